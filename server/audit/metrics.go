package audit

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Why a best_effort record was lost.
const (
	dropQueueFull  = iota // the queue of shed records was full: its oldest record went
	dropBufferFull        // OPA's upload buffer was full: its oldest item went
	dropSinkError         // the sink failed to write, or a policy error kept the record out
	dropClosed            // the record came after shutdown began
	dropReserved          // service: a shed record found the upload buffer's last quarter, kept for issued URLs
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{"queue_full", "buffer_full", "sink_error", "shutdown", "buffer_reserved"}

// stats are plain atomics, so that the request path pays an atomic add at
// most; the collector turns them into metrics when scraped.
type stats struct {
	written atomic.Uint64
	failed  atomic.Uint64 // strict: not stored, request answered 503
	dropped [numDropReasons]atomic.Uint64
}

func (p *Pipeline) dropCounts() [numDropReasons]uint64 {
	var n [numDropReasons]uint64
	for r := range numDropReasons {
		n[r] = p.stats.dropped[r].Load()
	}
	n[dropBufferFull] += p.opa.counter(opaDroppedBufferFull)
	return n
}

var (
	descWritten = prometheus.NewDesc("signgate_audit_records_written_total",
		"Decision records the sink took: written (and fsynced in strict mode) to the console or file, acknowledged by the service in strict mode, or put in OPA's upload buffer in best_effort mode.",
		[]string{"sink"}, nil)
	descDropped = prometheus.NewDesc("signgate_audit_dropped_total",
		"Decision records lost in best_effort mode, by reason: queue_full (the oldest denial, failure or /v1/decide record made room), buffer_reserved (such a record found OPA's upload buffer three-quarters full), buffer_full (OPA's buffer dropped its oldest item), sink_error, shutdown.",
		[]string{"reason"}, nil)
	descFailed = prometheus.NewDesc("signgate_audit_failed_total",
		"Strict mode: decision records not stored; each request got 503 audit_unavailable and no URL.",
		nil, nil)
	descQueued = prometheus.NewDesc("signgate_audit_queue_length",
		"Decision records waiting in front of the sink.", nil, nil)
	descBuffered = prometheus.NewDesc("signgate_audit_upload_buffer_length",
		"Items waiting in OPA's upload buffer (service sink).", nil, nil)
	descPruned = prometheus.NewDesc("signgate_audit_files_pruned_total",
		"Rotated audit files the file sink removed, by reason: max_age or max_backups (neither is set by default).",
		[]string{"reason"}, nil)
	descUploads = prometheus.NewDesc("signgate_audit_uploads_total",
		"Gzipped chunks POSTed to the decision-log service, by result.", []string{"result"}, nil)
)

// collector reports the pipeline's counters at scrape time.
type collector struct{ p *Pipeline }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWritten, descDropped, descFailed, descQueued, descBuffered, descUploads, descPruned} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	p := c.p
	ch <- prometheus.MustNewConstMetric(descWritten, prometheus.CounterValue, float64(p.stats.written.Load()), p.sinkName)
	drops := p.dropCounts()
	for r := range numDropReasons {
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(drops[r]), dropReasonNames[r])
	}
	ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(p.stats.failed.Load()))
	ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(p.queued()))
	ch <- prometheus.MustNewConstMetric(descBuffered, prometheus.GaugeValue, float64(p.opa.buffered()))
	ch <- prometheus.MustNewConstMetric(descUploads, prometheus.CounterValue, float64(p.opa.counter(opaChunksUploaded)), "ok")
	ch <- prometheus.MustNewConstMetric(descUploads, prometheus.CounterValue, float64(p.opa.counter(opaChunksFailed)), "error")
	if p.file != nil {
		ch <- prometheus.MustNewConstMetric(descPruned, prometheus.CounterValue, float64(p.file.prunedAge.Load()), "max_age")
		ch <- prometheus.MustNewConstMetric(descPruned, prometheus.CounterValue, float64(p.file.prunedCount.Load()), "max_backups")
	}
}

func (p *Pipeline) registerMetrics(reg prometheus.Registerer) {
	p.commitTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "signgate_audit_commit_duration_seconds",
		Help:    "Time to store one group of decision records: mask, encode, write and fsync, or upload.",
		Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16),
	})
	p.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "signgate_audit_commit_records",
		Help:    "Decision records per group commit.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 13),
	})
	if reg != nil {
		reg.MustRegister(collector{p}, p.commitTime, p.batchSize)
	}
}

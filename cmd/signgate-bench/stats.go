package main

import (
	"slices"
	"time"
)

// percentile is the nearest-rank p-th percentile (0 < p <= 100) of sorted:
// the smallest sample that at least p percent of the samples do not
// exceed. It never interpolates, so a p99.9 of 1,000 samples is the
// largest one rather than a value no request saw. Zero for no samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// rank = ceil(p/100 * n), computed in integers of a thousandth of a
	// percent so that 99.9% of 1,000 is exactly 999.
	milli := int64(p*1000 + 0.5)
	rank := int((milli*int64(n) + 100_000 - 1) / 100_000)
	return sorted[min(max(rank, 1), n)-1]
}

func sortDurations(d []time.Duration) { slices.Sort(d) }

// median is the middle value, or the mean of the two middle values. Zero
// for no values.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianDuration(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(median(xs))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

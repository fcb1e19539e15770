package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/signgate/signgate/server/config"
)

const corsUsage = `usage: signgate cors --team T (--dev | --config FILE) [--origin https://app.example.com ...]

Print the bucket CORS rules that let browser pages of the origins use team
T's signed URLs: GET, PUT, form POST and chunked uploads, with ETag exposed.
The origins default to server.cors.allowed_origins. S3 prints the document
of put-bucket-cors, GCS the file of 'gcloud storage buckets update
--cors-file', Azure the CORS rule of the storage account's Blob service
(docs/browser.md).
`

// origins collects repeated --origin flags.
type origins []string

func (o *origins) String() string     { return strings.Join(*o, ",") }
func (o *origins) Set(v string) error { *o = append(*o, v); return nil }

func corsCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cors", flag.ContinueOnError)
	tf := addTeamFlags(fs, "the rules")
	var from origins
	fs.Var(&from, "origin", "an origin of the browser pages (repeatable; default server.cors.allowed_origins)")
	if _, err := parseArgs(fs, args, stdout, corsUsage, 0); err != nil {
		return err
	}
	cfg, err := tf.load(fs.Name())
	if err != nil {
		return err
	}
	team := tf.team
	if len(from) == 0 {
		from = cfg.Server.CORS.AllowedOrigins
	}
	if len(from) == 0 {
		return usagef(fs.Name(), "no origin: pass --origin or set server.cors.allowed_origins")
	}
	check := config.CORS{AllowedOrigins: from}
	if err := check.Check(); err != nil {
		return usagef(fs.Name(), "%v", err)
	}
	b, err := loadBundle(cfg)
	if err != nil {
		return err
	}
	tn, err := teamNetwork(b.Data, *team)
	if err != nil {
		return err
	}
	cn, ok := cfg.Connectors[tn.connector]
	if !ok {
		return fmt.Errorf("team %s: connector %q is not in the configuration", *team, tn.connector)
	}
	doc, note := bucketCORS(cn.Provider, cn.Bucket+cn.Container, from)
	fmt.Fprint(stderr, note)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}

// bucketCORS is the provider's CORS document for origins, and how to apply
// it. The headers are every header signgate signs or a flow sends.
func bucketCORS(provider, bucket string, origins []string) (any, string) {
	switch provider {
	case "s3":
		return map[string]any{"CORSRules": []map[string]any{{
			"AllowedOrigins": origins,
			"AllowedMethods": []string{"GET", "HEAD", "PUT", "POST"},
			"AllowedHeaders": []string{"content-type", "content-md5", "content-length", "range", "x-amz-*"},
			"ExposeHeaders":  []string{"ETag", "Content-Length", "Content-Range"},
			"MaxAgeSeconds":  600,
		}}}, fmt.Sprintf("# apply with: aws s3api put-bucket-cors --bucket %s --cors-configuration file://cors.json\n", bucket)
	case "gcs":
		return []map[string]any{{
			"origin":         origins,
			"method":         []string{"GET", "HEAD", "PUT", "POST"},
			"responseHeader": []string{"Content-Type", "Content-MD5", "Content-Range", "Range", "ETag", "Location", "x-goog-resumable", "x-goog-content-length-range", "x-goog-hash"},
			"maxAgeSeconds":  600,
		}}, fmt.Sprintf("# apply with: gcloud storage buckets update gs://%s --cors-file=cors.json\n", bucket)
	}
	return map[string]any{"CorsRules": []map[string]any{{
			"AllowedOrigins":  strings.Join(origins, ","),
			"AllowedMethods":  "GET,HEAD,PUT,OPTIONS",
			"AllowedHeaders":  "content-type,content-md5,range,x-ms-blob-type,x-ms-blob-content-type,x-ms-version,x-ms-date",
			"ExposedHeaders":  "etag,content-length,content-range,content-md5,x-ms-request-id",
			"MaxAgeInSeconds": 600,
		}}}, "# Azure CORS is set on the storage account's Blob service, for every container:\n" +
			fmt.Sprintf("# az storage cors add --services b --origins %s --methods GET HEAD PUT OPTIONS --allowed-headers 'content-type,content-md5,range,x-ms-*' --exposed-headers 'etag,content-length,content-range,content-md5,x-ms-*' --max-age 600\n",
				strings.Join(origins, " "))
}

package signertest

import (
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// DateExpires returns the SigningTime and Expiry readers for URLs that carry
// their signing time in dateParam (as 20060102T150405Z) and their lifetime
// in whole seconds in expiresParam, as SigV4 (X-Amz-Date, X-Amz-Expires) and
// GCS V4 (X-Goog-Date, X-Goog-Expires) do.
func DateExpires(dateParam, expiresParam string) (signingTime, expiry func(*url.URL) (time.Time, error)) {
	signingTime = func(u *url.URL) (time.Time, error) {
		v := u.Query().Get(dateParam)
		at, err := time.Parse("20060102T150405Z", v)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s=%q: %w", dateParam, v, err)
		}
		return at, nil
	}
	expiry = func(u *url.URL) (time.Time, error) {
		at, err := signingTime(u)
		if err != nil {
			return time.Time{}, err
		}
		v := u.Query().Get(expiresParam)
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s=%q: %w", expiresParam, v, err)
		}
		return at.Add(time.Duration(secs) * time.Second), nil
	}
	return signingTime, expiry
}

package cph

import (
	"errors"
	"fmt"
	"net/url"
)

// checkEndpoint accepts an absolute http(s) URL with a host and nothing after the path. Its errors
// show the URL without any user:password part, so a mistaken credential does not reach a log.
func checkEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the whole URL
		}
		return fmt.Errorf("not a valid URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q is not an absolute http or https URL", u.Redacted())
	case u.Host == "":
		return fmt.Errorf("%q has no host", u.Redacted())
	case u.User != nil:
		return fmt.Errorf("%q must not carry credentials", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q must not have a query or fragment", u.Redacted())
	}
	return nil
}

package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
)

// Error is what every Client call returns on failure: the operation, the
// HTTP status when the server answered, the server's own message, and
// whether trying again later can succeed.
type Error struct {
	Op         string // "write farm_f1", "create database farm_f1", …
	StatusCode int    // 0 when no HTTP answer arrived
	Message    string // the server's message, verbatim
	Retryable  bool
	Err        error
}

func (e *Error) Error() string {
	switch {
	case e.StatusCode != 0 && e.Message != "":
		return fmt.Sprintf("%s: http %d: %s", e.Op, e.StatusCode, e.Message)
	case e.StatusCode != 0:
		return fmt.Sprintf("%s: http %d", e.Op, e.StatusCode)
	case e.Err != nil:
		return fmt.Sprintf("%s: %v", e.Op, e.Err)
	default:
		return e.Op + ": " + e.Message
	}
}

func (e *Error) Unwrap() error { return e.Err }

// IsRetryable reports whether err is transient: the server was unreachable,
// timed out, answered 5xx or 429. Permanent errors (4xx: a field type
// conflict, a missing database, a bad query) return false, as do errors
// that are not from this package and a cancelled context.
func IsRetryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable
	}
	return false
}

// IsNotFound reports whether the server said the database (1.x) or bucket
// (2.x) does not exist; EnsureBucket fixes that.
func IsNotFound(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	if e.StatusCode == http.StatusNotFound {
		return true
	}
	m := strings.ToLower(e.Message)
	return strings.Contains(m, "database not found") || strings.Contains(m, "bucket not found")
}

func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code >= 500
}

// transportError classifies an error without an HTTP answer. Network errors
// and the client's own timeout are retryable; the caller's cancellation is
// not (it means "stop", not "try again").
func transportError(op string, err error) *Error {
	e := &Error{Op: op, Err: err}
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
	case errors.Is(err, context.DeadlineExceeded):
		e.Retryable = true
	case errors.As(err, &ne):
		e.Retryable = true
	default:
		// Connection refused/reset surface as *net.OpError (a net.Error) but
		// some wrappers lose that; anything else from the transport is
		// still a failure to reach the server.
		e.Retryable = true
	}
	return e
}

// fromClientError converts the influxdb-client-go error type.
func fromClientError(op string, err error) error {
	if err == nil {
		return nil
	}
	var he *ihttp.Error
	if errors.As(err, &he) {
		if he.StatusCode == 0 {
			inner := he.Err
			if inner == nil {
				inner = err
			}
			return transportError(op, inner)
		}
		msg := he.Message
		if msg == "" && he.Header != nil {
			msg = he.Header.Get("X-Influxdb-Error")
		}
		if msg == "" {
			msg = he.Code
		}
		return &Error{Op: op, StatusCode: he.StatusCode, Message: msg, Retryable: retryableStatus(he.StatusCode), Err: err}
	}
	return transportError(op, err)
}

// Package recorded is a local stand-in for the public-data portal in
// tests: an httptest server that serves recorded answers from a testdata
// folder, one per request in the order given, and remembers each request's
// query. These machines cannot reach the real services, so the adapters'
// tests run against it.
package recorded

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Reply is one answer: a status, headers and a file of testdata (empty
// for no body).
type Reply struct {
	Status int
	Header map[string]string
	File   string
}

// Service serves replies; once they are used up it serves Default.
type Service struct {
	URL     string
	Default Reply

	mu      sync.Mutex
	next    []Reply
	queries []url.Values
}

// New starts a service over dir, closed when the test ends.
func New(t testing.TB, dir string, def Reply) *Service {
	s := &Service{Default: def}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.queries = append(s.queries, r.URL.Query())
		rp := s.Default
		if len(s.next) > 0 {
			rp, s.next = s.next[0], s.next[1:]
		}
		s.mu.Unlock()
		var body []byte
		if rp.File != "" {
			b, err := os.ReadFile(filepath.Join(dir, rp.File))
			if err != nil {
				t.Errorf("recorded answer: %v", err)
			}
			body = b
		}
		for k, v := range rp.Header {
			w.Header().Set(k, v)
		}
		if rp.Status == 0 {
			rp.Status = http.StatusOK
		}
		w.WriteHeader(rp.Status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Answer queues replies for the next requests.
func (s *Service) Answer(rs ...Reply) {
	s.mu.Lock()
	s.next = append(s.next, rs...)
	s.mu.Unlock()
}

// Queries returns the query of every request so far.
func (s *Service) Queries() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.queries...)
}

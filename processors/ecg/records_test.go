package ecg

import (
	"path/filepath"
	"testing"

	"github.com/medbiz/medbiz/processors/ecg/wfdb"
)

// readRecord reads a record's header and signals.
func readRecord(t *testing.T, dir, rec string) (*wfdb.Header, [][]int16) {
	t.Helper()
	h, err := wfdb.ReadHeader(filepath.Join(dir, rec+".hea"))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := h.ReadSignals()
	if err != nil {
		t.Fatal(err)
	}
	return h, sig
}

// readAnnotations reads a record's reference annotations.
func readAnnotations(t *testing.T, dir, rec string) []wfdb.Annotation {
	t.Helper()
	ann, err := wfdb.ReadAnnotations(filepath.Join(dir, rec+".atr"))
	if err != nil {
		t.Fatal(err)
	}
	return ann
}

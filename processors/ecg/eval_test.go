package ecg

import (
	"testing"

	"github.com/medbiz/medbiz/internal/mitdbtest"
)

// TestEval runs the streaming detector (1 s frames, as the CLI does) over
// every available record and holds it to the targets: gross Se and +P at
// least 99.5 %, no record below 97 %.
func TestEval(t *testing.T) {
	dir := mitdbtest.Dir(t)
	rs, gross, err := EvalDB(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		t.Log(r)
		if r.Se() < 97 || r.PPV() < 97 {
			t.Errorf("record %s below 97 %%: %s", r.Record, r)
		}
	}
	t.Log(gross)
	if gross.Se() < 99.5 || gross.PPV() < 99.5 {
		t.Errorf("gross below 99.5 %%: %s", gross)
	}
}

package telemetry

import (
	"encoding/json"
	"fmt"
)

// BatchContentType names the wire form of a Batch, for a NATS message
// header, so that a consumer can tell a future format from this one.
const BatchContentType = "application/vnd.medbiz.batch.v1+json"

// MarshalBatch is the one place that writes a Batch for the NATS telemetry
// stream. It is JSON (field names in model.go) so that the stream can be
// read with the nats CLI; if that ever costs too much, only this file and
// BatchContentType change.
func MarshalBatch(b *Batch) ([]byte, error) {
	data, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("marshal telemetry batch: %w", err)
	}
	return data, nil
}

// UnmarshalBatch reads what MarshalBatch wrote into b, replacing all of b.
func UnmarshalBatch(data []byte, b *Batch) error {
	*b = Batch{}
	if err := json.Unmarshal(data, b); err != nil {
		return fmt.Errorf("unmarshal telemetry batch: %w", err)
	}
	return nil
}

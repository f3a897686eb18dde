package api

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"

	"github.com/danielgtaylor/huma/v2"
)

// csvFormat writes a series as "t,v" rows; anything else (errors) as one
// JSON document, since it has no tabular form.
var csvFormat = huma.Format{
	Marshal: func(w io.Writer, v any) error {
		s, ok := v.(*SeriesBody)
		if !ok {
			return json.NewEncoder(w).Encode(v)
		}
		cw := csv.NewWriter(w)
		if err := cw.Write([]string{"t", "v"}); err != nil {
			return err
		}
		for _, p := range s.Points {
			if err := cw.Write([]string{p.T, strconv.FormatFloat(p.V, 'f', -1, 64)}); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	},
	Unmarshal: func(data []byte, v any) error { return json.Unmarshal(data, v) },
}

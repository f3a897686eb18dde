package rules

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/medbiz/medbiz/telemetry"
)

// Env is what a condition sees. Latest values are NaN when missing or
// stale; functions are bound to one patient's state by the engine.
//
// Windowed and helper calls are written naturally in rule files
// (min(spo2, "15s")) and rewritten at compile time into a single packed
// string argument ("spo2|15s"). That lets the compiler validate metric
// names and windows at load, lets the pack know how much history to keep,
// and lets expr call every helper through its allocation-free typed path.
type Env struct {
	HR        float64 `expr:"hr"`
	SpO2      float64 `expr:"spo2"`
	Sys       float64 `expr:"sys"`
	Dia       float64 `expr:"dia"`
	MAP       float64 `expr:"map"`
	RR        float64 `expr:"rr"`
	Temp      float64 `expr:"temp"`
	Glucose   float64 `expr:"glucose"`
	ECGRR     float64 `expr:"ecg_rr"`
	ECGIrr    float64 `expr:"ecg_irregularity"`
	ECGSQI    float64 `expr:"ecg_sqi"`
	ECGHR     float64 `expr:"ecg_hr"`
	ECGSince  float64 `expr:"ecg_since_beat"`
	AgeDays   float64 `expr:"age_days"`
	AgeMonths float64 `expr:"age_months"`

	Min        func(string) float64 `expr:"min"`
	Max        func(string) float64 `expr:"max"`
	Avg        func(string) float64 `expr:"avg"`
	Count      func(string) float64 `expr:"count"`
	Delta      func(string) float64 `expr:"delta"`
	Since      func(string) float64 `expr:"since"`
	Has        func(string) bool    `expr:"has"`
	LastEvent  func(string) bool    `expr:"last_event"`
	EventSince func(string) float64 `expr:"event_since"`
	Unanswered func(string) bool    `expr:"unanswered"`
	Score      func(string) float64 `expr:"score"`
	Band       func(string) float64 `expr:"band"`
	ActiveFor  func() float64       `expr:"active_for"`
	Param      func(int) float64    `expr:"param"`

	// Context of the patient's region (context.go): NaN, false or 0 when
	// the patient has no region or the region has no fresh reading.
	Ctx        func(string) float64 `expr:"ctx"`
	CtxHas     func(string) bool    `expr:"ctx_has"`
	CtxSince   func(string) float64 `expr:"ctx_since"`
	CtxMin     func(string) float64 `expr:"ctx_min"`
	CtxMax     func(string) float64 `expr:"ctx_max"`
	CtxAvg     func(string) float64 `expr:"ctx_avg"`
	CtxCount   func(string) float64 `expr:"ctx_count"`
	CtxMaxPrev func(string) float64 `expr:"ctx_max_prev"`
}

// metricNames are the values a condition can read, in Env field order.
var metricNames = []string{"hr", "spo2", "sys", "dia", "map", "rr", "temp", "glucose",
	"ecg_rr", "ecg_irregularity", "ecg_sqi", "ecg_hr", "ecg_since_beat"}

func isMetric(s string) bool {
	for _, m := range metricNames {
		if m == s {
			return true
		}
	}
	return false
}

func (e *Env) metricPtr(i int) *float64 {
	switch i {
	case 0:
		return &e.HR
	case 1:
		return &e.SpO2
	case 2:
		return &e.Sys
	case 3:
		return &e.Dia
	case 4:
		return &e.MAP
	case 5:
		return &e.RR
	case 6:
		return &e.Temp
	case 7:
		return &e.Glucose
	case 8:
		return &e.ECGRR
	case 9:
		return &e.ECGIrr
	case 10:
		return &e.ECGSQI
	case 11:
		return &e.ECGHR
	default:
		return &e.ECGSince
	}
}

// argKind says what each argument of a helper must be.
type argKind int

const (
	argMetric  argKind = iota // an identifier naming a metric, or its name as a string
	argWindow                 // a duration literal
	argEvent                  // an event kind literal
	argName                   // a score or band name literal
	argContext                // a context metric name literal ("heat_index")
)

var helpers = map[string][]argKind{
	"min": {argMetric, argWindow}, "max": {argMetric, argWindow}, "avg": {argMetric, argWindow},
	"count": {argMetric, argWindow}, "delta": {argMetric, argWindow},
	"since": {argMetric}, "has": {argMetric},
	"last_event": {argEvent, argWindow}, "event_since": {argEvent},
	"unanswered": {argEvent, argEvent, argWindow},
	"score":      {argName}, "band": {argMetric},
	"active_for": {},
	"ctx":        {argContext}, "ctx_has": {argContext}, "ctx_since": {argContext},
	"ctx_min": {argContext, argWindow}, "ctx_max": {argContext, argWindow}, "ctx_avg": {argContext, argWindow},
	"ctx_count": {argContext, argWindow}, "ctx_max_prev": {argContext, argWindow},
}

var scoreNames = map[string]bool{"news2": true, "news2_params": true, "news2_max": true}

var eventKinds = map[string]bool{"fall": true, "sos": true, "motion": true, "no_motion": true, "apnea": true, "bed_exit": true}

func isReservedName(s string) bool {
	if isMetric(s) || s == "age_days" || s == "age_months" || s == "param" {
		return true
	}
	_, ok := helpers[s]
	return ok
}

// patcher rewrites helper calls and parameter names and enforces the
// no-negation rule for raise conditions. It records the first error.
type patcher struct {
	rule     *Rule
	raise    bool
	metrics  map[string]bool
	err      error
	patched  bool
	paramIdx map[string]int
}

func (p *patcher) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf(format, args...)
	}
}

func (p *patcher) Visit(node *ast.Node) {
	if p.patched {
		// The checker runs visitors once; a second pass would see packed
		// strings and must leave them alone.
		return
	}
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if i, ok := p.paramIdx[n.Value]; ok {
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: "param"}, Arguments: []ast.Node{&ast.IntegerNode{Value: i}}})
			return
		}
		if isMetric(n.Value) {
			p.metrics[n.Value] = true
		}
	case *ast.UnaryNode:
		if p.raise && (n.Operator == "!" || n.Operator == "not") {
			p.fail("negation (%s) is not allowed in a raise condition: a missing value would make it true; use has() or a positive comparison", n.Operator)
		}
	case *ast.BinaryNode:
		if p.raise && (n.Operator == "!=" || n.Operator == "??" || strings.HasPrefix(n.Operator, "not")) {
			p.fail("operator %s is not allowed in a raise condition: a missing value would make it true", n.Operator)
		}
		// (hr < 40) == false is a negation in disguise.
		if p.raise && n.Operator == "==" && (isBool(n.Left) || isBool(n.Right)) {
			p.fail("comparing truth values with == is not allowed in a raise condition: a missing value would make it true")
		}
	case *ast.ConditionalNode:
		if p.raise {
			p.fail("the ?: operator is not allowed in a raise condition: its else branch would run on missing values")
		}
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok {
			return
		}
		kinds, ok := helpers[id.Value]
		if !ok || id.Value == "param" {
			return
		}
		if len(n.Arguments) != len(kinds) {
			p.fail("%s takes %d arguments, got %d", id.Value, len(kinds), len(n.Arguments))
			return
		}
		if len(kinds) == 0 {
			return
		}
		parts := make([]string, len(kinds))
		for i, k := range kinds {
			var s string
			switch a := n.Arguments[i].(type) {
			case *ast.StringNode:
				s = a.Value
			case *ast.IdentifierNode:
				if k != argMetric {
					p.fail("%s: argument %d must be a quoted literal", id.Value, i+1)
					return
				}
				s = a.Value
			case *ast.CallNode:
				// A metric identifier already visited is still an identifier;
				// a param turned into a call means a param was used where a
				// literal is needed.
				p.fail("%s: argument %d must be a literal, not a parameter", id.Value, i+1)
				return
			default:
				p.fail("%s: argument %d must be a literal", id.Value, i+1)
				return
			}
			if err := p.checkArg(id.Value, k, s); err != nil {
				p.fail("%s: %v", id.Value, err)
				return
			}
			parts[i] = s
		}
		p.note(id.Value, parts)
		n.Arguments = []ast.Node{&ast.StringNode{Value: strings.Join(parts, "|")}}
	}
}

func (p *patcher) checkArg(fn string, k argKind, s string) error {
	switch k {
	case argMetric:
		if !isMetric(s) {
			return fmt.Errorf("unknown metric %q", s)
		}
		if fn == "band" && s != "hr" && s != "rr" {
			return fmt.Errorf("bands exist for hr and rr only")
		}
		p.metrics[s] = true
	case argWindow:
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return fmt.Errorf("bad window %q (want a Go duration such as 15s, 5m, 24h)", s)
		}
		if d > 48*time.Hour {
			return fmt.Errorf("window %s longer than 48h", s)
		}
		if fn == "ctx_max_prev" && 2*d > 48*time.Hour {
			return fmt.Errorf("window %s: ctx_max_prev looks back twice its window, at most 48h", s)
		}
	case argEvent:
		if !eventKinds[s] {
			return fmt.Errorf("unknown event kind %q", s)
		}
	case argName:
		if !scoreNames[s] {
			return fmt.Errorf("unknown score %q (news2, news2_params, news2_max)", s)
		}
	case argContext:
		if !isContextMetric(s) {
			return fmt.Errorf("unknown context metric %q (%s)", s, strings.Join(telemetry.ContextMetrics(), ", "))
		}
	}
	return nil
}

// note records how much history a call needs.
func (p *patcher) note(fn string, parts []string) {
	r := p.rule
	if r.windows == nil {
		r.windows = map[string]time.Duration{}
	}
	switch fn {
	case "min", "max", "avg", "count", "delta":
		d, _ := time.ParseDuration(parts[1])
		if d > r.windows[parts[0]] {
			r.windows[parts[0]] = d
		}
	case "last_event", "unanswered":
		d, _ := time.ParseDuration(parts[len(parts)-1])
		if d > r.eventWindow {
			r.eventWindow = d
		}
	case "score":
		for _, m := range news2Metrics {
			p.metrics[m] = true
		}
	case "ctx", "ctx_has", "ctx_since", "ctx_min", "ctx_max", "ctx_avg", "ctx_count", "ctx_max_prev":
		p.noteContext(fn, parts)
	}
}

func isBool(n ast.Node) bool {
	t := n.Type()
	return t != nil && t.Kind() == reflect.Bool
}

// compileCond compiles one condition. Only builtins that keep NaN as NaN
// are enabled: int(NaN) or string conversions would turn a missing value
// into something a comparison can find true.
func compileCond(r *Rule, src string, raise bool, metrics map[string]bool) (*vm.Program, error) {
	pt := &patcher{rule: r, raise: raise, metrics: metrics, paramIdx: map[string]int{}}
	for i, name := range r.paramNames {
		pt.paramIdx[name] = i
	}
	guard := &doneMarker{p: pt}
	prog, err := expr.Compile(src, expr.Env(&Env{}), expr.AsBool(), expr.DisableAllBuiltins(),
		expr.EnableBuiltin("abs"), expr.EnableBuiltin("ceil"), expr.EnableBuiltin("floor"), expr.EnableBuiltin("round"),
		expr.Patch(pt), expr.Patch(guard))
	if pt.err != nil {
		return nil, pt.err
	}
	if err != nil {
		return nil, err
	}
	return prog, nil
}

// doneMarker runs after the patcher and stops it from running twice.
type doneMarker struct{ p *patcher }

func (d *doneMarker) Visit(*ast.Node) { d.p.patched = true }

// splitArgs undoes the packing done at compile time.
func splitArgs(s string) (a, b, c string) {
	a, rest, _ := strings.Cut(s, "|")
	b, c, _ = strings.Cut(rest, "|")
	return a, b, c
}

// parseWindow parses a window that the compiler already validated.
func parseWindow(s string) int64 {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0
	}
	return int64(d)
}

// formatValue renders a number for a message: integers without decimals,
// other values with one.
func formatValue(v float64) string {
	if math.IsNaN(v) {
		return "?"
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e9 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

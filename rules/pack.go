package rules

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	exprfile "github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"
)

// Severities in rising order.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Rule kinds. Expression rules are evaluated on event time; the two system
// kinds are driven by Tick and by the device status hook.
const (
	KindExpr          = "expr"
	KindDeadman       = "deadman"
	KindDeviceOffline = "device_offline"
)

// Profiles a patient can have (docs/contract.md#provisioning).
var knownProfiles = map[string]bool{"adult": true, "elderly": true, "infant": true}

var ruleIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func severityRank(s string) int {
	switch s {
	case SeverityInfo:
		return 1
	case SeverityWarning:
		return 2
	case SeverityCritical:
		return 3
	}
	return 0
}

// Escalation raises an active alert to a higher severity while When holds.
type Escalation struct {
	Severity string
	When     string
	// Message replaces the rule's message once escalated; optional.
	Message string
	prog    *vm.Program
}

// Rule is one compiled rule of a pack.
type Rule struct {
	ID       string
	Profiles []string
	Kind     string
	Severity string
	When     string
	Clear    string
	For      time.Duration
	ClearFor time.Duration
	Message  string
	Source   string
	Params   map[string]float64
	Escalate *Escalation
	// ResolveAfterAck keeps an alert open until someone acknowledged it, for
	// signals (an SOS press) whose clear condition is only the passing of
	// time: nobody should miss them because they went quiet.
	ResolveAfterAck bool
	File            string
	Line            int

	when, clear *vm.Program
	paramNames  []string
	paramKeys   []string // "<id>.<param>", parallel to paramNames
	metrics     []string // metrics the rule reads, reported in alert values
	windows     map[string]time.Duration
	eventWindow time.Duration
	// Context the rule reads (context.go): metric names, and the history
	// each needs.
	ctxRead    map[string]bool
	ctxMetrics []string
	ctxWindows map[string]time.Duration
}

// Pack is a validated, compiled set of rules. It is immutable once built and
// may be shared by engines and goroutines.
type Pack struct {
	Rules     []*Rule
	byProfile map[string][]*Rule
	// retention is how much history per metric the rules need.
	retention map[string]time.Duration
	eventKeep time.Duration
	// ctxRetention is how much history per context metric the rules need.
	ctxRetention map[string]time.Duration
}

// ForProfile returns the rules that apply to a profile, in file order.
func (p *Pack) ForProfile(profile string) []*Rule {
	if p == nil {
		return nil
	}
	return p.byProfile[profile]
}

// ruleYAML is the on-disk form of a rule.
type ruleYAML struct {
	ID              string             `yaml:"id"`
	Profiles        []string           `yaml:"profiles"`
	Kind            string             `yaml:"kind"`
	Severity        string             `yaml:"severity"`
	When            string             `yaml:"when"`
	For             string             `yaml:"for"`
	Clear           string             `yaml:"clear"`
	ClearFor        string             `yaml:"clear_for"`
	Message         string             `yaml:"message"`
	Source          string             `yaml:"source"`
	Params          map[string]float64 `yaml:"params"`
	ResolveAfterAck bool               `yaml:"resolve_after_ack"`
	Escalate        *struct {
		Severity string `yaml:"severity"`
		When     string `yaml:"when"`
		Message  string `yaml:"message"`
	} `yaml:"escalate"`
}

type fileYAML struct {
	Profiles []string    `yaml:"profiles"`
	Rules    []yaml.Node `yaml:"rules"`
}

// posError is an error located in a rule file.
type posError struct {
	file string
	line int
	msg  string
}

func (e *posError) Error() string { return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg) }

// ParsePack compiles one rule file. name is used in errors and, when its
// base name is a profile ("infant.yaml"), as the default profile.
func ParsePack(name string, data []byte) (*Pack, error) {
	rs, err := parseFile(name, data)
	if err != nil {
		return nil, err
	}
	return buildPack(rs)
}

func buildPack(rs []*Rule) (*Pack, error) {
	p := &Pack{Rules: rs, byProfile: map[string][]*Rule{}, retention: map[string]time.Duration{}, eventKeep: time.Hour,
		ctxRetention: map[string]time.Duration{}}
	seen := map[string]*Rule{}
	for _, r := range rs {
		for _, prof := range r.Profiles {
			k := prof + "/" + r.ID
			if prev, ok := seen[k]; ok {
				return nil, &posError{r.File, r.Line, fmt.Sprintf("rule %s for profile %s already defined at %s:%d", r.ID, prof, prev.File, prev.Line)}
			}
			seen[k] = r
			p.byProfile[prof] = append(p.byProfile[prof], r)
		}
		for m, d := range r.windows {
			if d > p.retention[m] {
				p.retention[m] = d
			}
		}
		for m, d := range r.ctxWindows {
			if d > p.ctxRetention[m] {
				p.ctxRetention[m] = d
			}
		}
		if r.eventWindow > p.eventKeep {
			p.eventKeep = r.eventWindow
		}
	}
	return p, nil
}

func parseFile(name string, data []byte) ([]*Rule, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(doc.Content) == 0 {
		return nil, &posError{name, 1, "empty rule file"}
	}
	var f fileYAML
	if err := doc.Content[0].Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defProfiles := f.Profiles
	if base := strings.TrimSuffix(filepath.Base(name), filepath.Ext(name)); len(defProfiles) == 0 && knownProfiles[base] {
		defProfiles = []string{base}
	}
	var out []*Rule
	var errs []error
	for i := range f.Rules {
		n := &f.Rules[i]
		r, err := compileRuleNode(name, n, defProfiles)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// valueLine finds the line of a key's value in a rule mapping, for errors
// that point at the expression rather than at the rule.
func valueLine(n *yaml.Node, key string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			v := n.Content[i+1]
			if v.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
				return v.Line + 1
			}
			return v.Line
		}
		if n.Content[i].Value == "escalate" && strings.HasPrefix(key, "escalate.") {
			return valueLine(n.Content[i+1], strings.TrimPrefix(key, "escalate."))
		}
	}
	return n.Line
}

func parseDur(s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %s", s)
	}
	return d, nil
}

func compileRuleNode(file string, n *yaml.Node, defProfiles []string) (*Rule, error) {
	fail := func(key, format string, args ...any) error {
		return &posError{file, valueLine(n, key), fmt.Sprintf(format, args...)}
	}
	var y ruleYAML
	if err := n.Decode(&y); err != nil {
		return nil, &posError{file, n.Line, err.Error()}
	}
	if !ruleIDRe.MatchString(y.ID) {
		return nil, fail("id", "rule id %q must match [a-z0-9][a-z0-9_-]{0,62}", y.ID)
	}
	r := &Rule{ID: y.ID, Profiles: y.Profiles, Kind: y.Kind, Severity: y.Severity, When: y.When, Clear: y.Clear,
		Message: y.Message, Source: y.Source, Params: y.Params, ResolveAfterAck: y.ResolveAfterAck, File: file, Line: n.Line}
	if len(r.Profiles) == 0 {
		r.Profiles = defProfiles
	}
	if len(r.Profiles) == 0 {
		return nil, fail("profiles", "rule %s: no profiles (set profiles or name the file after a profile)", r.ID)
	}
	for _, p := range r.Profiles {
		if !knownProfiles[p] {
			return nil, fail("profiles", "rule %s: unknown profile %q", r.ID, p)
		}
	}
	if r.Kind == "" {
		r.Kind = KindExpr
	}
	if severityRank(r.Severity) == 0 {
		return nil, fail("severity", "rule %s: severity %q is not info, warning or critical", r.ID, r.Severity)
	}
	if strings.TrimSpace(r.Source) == "" {
		return nil, fail("id", "rule %s: source (a citation) is required", r.ID)
	}
	if r.Message == "" {
		return nil, fail("id", "rule %s: message is required", r.ID)
	}
	if r.Params == nil {
		r.Params = map[string]float64{}
	}
	for k := range r.Params {
		if isReservedName(k) {
			return nil, fail("params", "rule %s: param %q shadows a built-in name", r.ID, k)
		}
		r.paramNames = append(r.paramNames, k)
	}
	sort.Strings(r.paramNames)
	for _, k := range r.paramNames {
		r.paramKeys = append(r.paramKeys, r.ID+"."+k)
	}
	var err error
	if r.For, err = parseDur(y.For); err != nil {
		return nil, fail("for", "rule %s: for: %v", r.ID, err)
	}
	if r.ClearFor, err = parseDur(y.ClearFor); err != nil {
		return nil, fail("clear_for", "rule %s: clear_for: %v", r.ID, err)
	}
	switch r.Kind {
	case KindDeadman, KindDeviceOffline:
		if r.When != "" || r.Clear != "" || y.Escalate != nil {
			return nil, fail("kind", "rule %s: kind %s takes no when, clear or escalate", r.ID, r.Kind)
		}
		if r.Kind == KindDeadman {
			if _, ok := r.Params["after_s"]; !ok {
				return nil, fail("params", "rule %s: deadman rules need params.after_s", r.ID)
			}
		}
		if err := checkTemplate(r, r.Message, map[string]bool{"device": true, "minutes": true}); err != nil {
			return nil, fail("message", "rule %s: %v", r.ID, err)
		}
		return r, nil
	case KindExpr:
	default:
		return nil, fail("kind", "rule %s: unknown kind %q", r.ID, r.Kind)
	}
	if r.When == "" || r.Clear == "" {
		return nil, fail("id", "rule %s: when and clear are both required (clear is the hysteresis)", r.ID)
	}
	metrics := map[string]bool{}
	// failExpr points at the failing line inside a multi-line expression.
	failExpr := func(key string, err error) error {
		line := valueLine(n, key)
		var fe *exprfile.Error
		if errors.As(err, &fe) && fe.Line > 1 {
			line += fe.Line - 1
		}
		return &posError{file, line, fmt.Sprintf("rule %s: %s: %v", r.ID, key, err)}
	}
	if r.when, err = compileCond(r, r.When, true, metrics); err != nil {
		return nil, failExpr("when", err)
	}
	if r.clear, err = compileCond(r, r.Clear, false, metrics); err != nil {
		return nil, failExpr("clear", err)
	}
	if y.Escalate != nil {
		e := &Escalation{Severity: y.Escalate.Severity, When: y.Escalate.When, Message: y.Escalate.Message}
		if severityRank(e.Severity) <= severityRank(r.Severity) {
			return nil, fail("escalate.severity", "rule %s: escalate severity %q must be above %s", r.ID, e.Severity, r.Severity)
		}
		if e.prog, err = compileCond(r, e.When, true, metrics); err != nil {
			return nil, failExpr("escalate.when", err)
		}
		r.Escalate = e
	}
	for m := range metrics {
		r.metrics = append(r.metrics, m)
	}
	sort.Strings(r.metrics)
	for m := range r.ctxRead {
		r.ctxMetrics = append(r.ctxMetrics, m)
	}
	sort.Strings(r.ctxMetrics)
	if err := checkTemplate(r, r.Message, nil); err != nil {
		return nil, fail("message", "rule %s: %v", r.ID, err)
	}
	if r.Escalate != nil {
		if err := checkTemplate(r, r.Escalate.Message, nil); err != nil {
			return nil, fail("escalate.message", "rule %s: escalate %v", r.ID, err)
		}
	}
	return r, nil
}

// checkTemplate makes sure every {{name}} of the message can be filled.
func checkTemplate(r *Rule, msg string, extra map[string]bool) error {
	for {
		i := strings.Index(msg, "{{")
		if i < 0 {
			return nil
		}
		j := strings.Index(msg[i:], "}}")
		if j < 0 {
			return fmt.Errorf("message: unclosed {{")
		}
		name := strings.TrimSpace(msg[i+2 : i+j])
		_, isParam := r.Params[name]
		if !isParam && !isMetric(name) && !isContextMetric(name) && !extra[name] && name != "age_months" && name != "age_days" && name != "news2" {
			return fmt.Errorf("message: unknown placeholder {{%s}}", name)
		}
		msg = msg[i+j+2:]
	}
}

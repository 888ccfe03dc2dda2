// Package filter compiles and evaluates webhook payload filters: CEL
// expressions (https://cel.dev) over an event, such as
// `data.amount > 100 && data.currency == "EUR"`. The webhooks service
// compiles a filter to validate it; the dispatcher compiles it once per
// webhook version and evaluates it per event. Both use this package, so
// what is accepted is exactly what runs.
//
// Variables: event (string, the event name), data (the event's JSON data:
// objects are maps, arrays lists, integers int, other numbers double),
// id (string), timestamp (timestamp) and user_id (string, "" for an
// instance-wide event).
package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

// Limits on a filter.
const (
	// MaxLength bounds the expression's text, in characters.
	MaxLength = 1000
	// CostLimit bounds one evaluation, in CEL cost units (about one per
	// operation, one per ten characters compared): far above what a
	// filter of field comparisons costs (tens), low enough that no
	// filter holds up the dispatcher for long.
	CostLimit = 10000
	// maxEstimate is the static cost a filter may have when every list,
	// map and string of the event is taken to be maxSize long: what
	// refuses nested comprehensions at validation rather than at run.
	maxEstimate = 1_000_000
	maxSize     = 1000
)

// Error is a filter that does not compile or is refused; its message
// says where (line:column) and why.
type Error struct{ Message string }

func (e *Error) Error() string { return e.Message }

var (
	envOnce sync.Once
	env     *cel.Env
	envErr  error
)

func celEnv() (*cel.Env, error) {
	envOnce.Do(func() {
		env, envErr = cel.NewEnv(
			cel.Variable("event", cel.StringType),
			cel.Variable("data", cel.DynType),
			cel.Variable("id", cel.StringType),
			cel.Variable("timestamp", cel.TimestampType),
			cel.Variable("user_id", cel.StringType),
			cel.ParserExpressionSizeLimit(MaxLength),
			cel.ParserRecursionLimit(50),
		)
	})
	return env, envErr
}

// Program is a compiled filter, safe for concurrent use.
type Program struct {
	src string
	prg cel.Program
}

// Source is the expression the program was compiled from.
func (p *Program) Source() string { return p.src }

// Compile checks and compiles a filter. An expression that does not
// parse, is not a bool, is longer than MaxLength or may cost too much
// is an *Error.
func Compile(src string) (*Program, error) {
	if n := utf8.RuneCountInString(src); n > MaxLength {
		return nil, &Error{fmt.Sprintf("must be at most %d characters long (this one has %d)", MaxLength, n)}
	}
	e, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("filter environment: %w", err)
	}
	ast, iss := e.Compile(src)
	if iss.Err() != nil {
		return nil, &Error{issues(iss.Err().Error())}
	}
	if t := ast.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil, &Error{fmt.Sprintf("must be true or false, but this expression is a %s", t)}
	}
	est, err := e.EstimateCost(ast, sizeBound{})
	if err != nil {
		return nil, &Error{"cannot estimate its cost: " + err.Error()}
	}
	if est.Max > maxEstimate {
		return nil, &Error{"is too costly to evaluate for every event (nested loops over the data?)"}
	}
	prg, err := e.Program(ast, cel.CostLimit(CostLimit))
	if err != nil {
		return nil, &Error{err.Error()}
	}
	return &Program{src: src, prg: prg}, nil
}

// issues keeps the first line of each of CEL's messages, which says
// where (line:column) and what; the source excerpt under it is dropped.
func issues(msg string) string {
	var out []string
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimPrefix(l, "ERROR: ")
		if rest, ok := strings.CutPrefix(l, "<input>:"); ok {
			out = append(out, rest)
		}
	}
	if len(out) == 0 {
		return msg
	}
	return strings.Join(out, "; ")
}

// sizeBound lets the cost estimate assume that every list, map and
// string is at most maxSize long.
type sizeBound struct{}

func (sizeBound) EstimateSize(cost.AstNode) *cost.SizeEstimate {
	return &cost.SizeEstimate{Min: 0, Max: maxSize}
}

func (sizeBound) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

// Input is an event decoded for evaluation. Decode it once per event,
// then evaluate every webhook's filter against it.
type Input struct {
	vars interpreter.Activation
	err  error
}

// NewInput decodes e for evaluation. Data that is not JSON makes every
// evaluation fail.
func NewInput(e *fluxhook.Event) *Input {
	in := &Input{}
	var data any
	if len(e.Data) > 0 {
		d := json.NewDecoder(bytes.NewReader(e.Data))
		d.UseNumber()
		if err := d.Decode(&data); err != nil {
			in.err = fmt.Errorf("decode event data: %w", err)
		}
	}
	// Converted to CEL values once, not once per filter.
	vars, err := interpreter.NewActivation(map[string]any{
		"event": types.String(e.Event), "id": types.String(e.ID), "timestamp": types.Timestamp{Time: e.Timestamp},
		"user_id": types.String(e.UserID), "data": types.DefaultTypeAdapter.NativeToValue(numbers(data)),
	})
	if err != nil && in.err == nil {
		in.err = err
	}
	in.vars = vars
	return in
}

// numbers turns JSON numbers into int64 when they are whole and fit,
// float64 otherwise, so that `data.count == 3` compares integers.
func numbers(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = numbers(x)
		}
	case []any:
		for i, x := range v {
			v[i] = numbers(x)
		}
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, err := v.Float64()
		if err != nil && !math.IsInf(f, 0) {
			return v.String()
		}
		return f
	}
	return v
}

// Match evaluates the filter. An error (a missing field, a type
// mismatch, the cost limit) is returned with false: the caller treats it
// as no match.
func (p *Program) Match(in *Input) (bool, error) {
	if in.err != nil {
		return false, in.err
	}
	out, _, err := p.prg.Eval(in.vars)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, errors.New("filter result is " + string(out.Type().TypeName()) + ", not bool")
	}
	return b, nil
}

package usersync

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
)

// env is the one CEL environment: `user` is a GraphUser, plus CEL's string extensions
// (lowerAscii, split, substring, trim, …) that mappings need to reshape values.
var env = func() *cel.Env {
	e, err := cel.NewEnv(
		ext.NativeTypes(reflect.TypeFor[GraphUser](), ext.ParseStructTags(true)),
		cel.Variable("user", cel.ObjectType("usersync.GraphUser")),
		ext.Strings(),
	)
	if err != nil {
		panic(err)
	}
	return e
}()

// costLimit bounds one evaluation so that a runaway expression (nested comprehensions over
// proxyAddresses) fails that user instead of stalling the round.
const costLimit = 100_000

// Expr is a compiled, type-checked CEL expression over `user`.
type Expr struct {
	text  string
	prog  cel.Program
	props []string // top-level Graph properties it reads, sorted
	mask  uint64   // their GraphUser.present bits
	// partial evaluates with unknown properties (those a user's JSON left out), to tell whether
	// the result depends on them.
	partial cel.Program
	// str reads the string property the expression consists of, without the interpreter:
	// most mappings are one property, and a round evaluates them for every user.
	str func(*GraphUser) string
}

// Text is the expression as written.
func (e *Expr) Text() string { return e.text }

// Properties are the top-level Graph properties the expression reads, sorted.
func (e *Expr) Properties() []string { return e.props }

// ExprError is a refused expression: where the first problem is and how to fix it.
type ExprError struct {
	Expr         string
	Line, Column int // 1-based; 0 when CEL names no position (a limit on the whole expression)
	Message      string
	Fix          string
}

func (e *ExprError) Error() string {
	var b strings.Builder
	if e.Line >= 1 {
		fmt.Fprintf(&b, "%d:%d: ", e.Line, e.Column)
	}
	b.WriteString(e.Message)
	lines := strings.Split(e.Expr, "\n")
	if e.Line >= 1 && e.Line <= len(lines) {
		line := strings.ReplaceAll(lines[e.Line-1], "\t", " ")
		caret := strings.Repeat(".", min(e.Column-1, utf8.RuneCountInString(line))) + "^"
		fmt.Fprintf(&b, "\n | %s\n | %s", line, caret)
	}
	if e.Fix != "" {
		b.WriteString("\nfix: " + e.Fix)
	}
	return b.String()
}

// cache keeps compiled expressions: each round compiles its tenant's plan, and compiling costs
// far more than a lookup. Bounded by clearing, since texts are user-written.
var cache = struct {
	sync.Mutex
	m map[string]*Expr
}{m: map[string]*Expr{}}

const cacheMax = 4096

// compile compiles text whose result must be of type want; wrongType is the fix when it is not.
func compile(text string, want *cel.Type, wrongType string) (*Expr, error) {
	key := want.String() + "\x00" + text
	cache.Lock()
	e := cache.m[key]
	cache.Unlock()
	if e != nil {
		return e, nil
	}
	ast, iss := env.Compile(text)
	if iss.Err() != nil {
		return nil, exprError(text, iss.Errors())
	}
	if out := ast.OutputType(); !out.IsExactType(want) && !out.IsExactType(cel.DynType) {
		return nil, &ExprError{Expr: text, Line: 1, Column: 1,
			Message: fmt.Sprintf("the expression yields %s, not %s", cel.FormatCELType(out), cel.FormatCELType(want)),
			Fix:     wrongType}
	}
	props, at := referenced(ast)
	for _, p := range props {
		// at is 0 for properties read only through user as a whole.
		if listOnly[p] && at[p] != 0 && want.IsExactType(cel.BoolType) {
			line, col := position(ast, at[p])
			line, col = atName(text, line, col)
			return nil, &ExprError{Expr: text, Line: line, Column: col,
				Message: "user." + p + " is read by list users only, not by users/delta",
				Fix:     "filters run on delta pages, so they cannot use " + p + "; filter on another property"}
		}
	}
	prog, err := env.Program(ast, cel.CostLimit(costLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, &ExprError{Expr: text, Message: err.Error()}
	}
	partial, err := env.Program(ast, cel.CostLimit(costLimit), cel.EvalOptions(cel.OptPartialEval))
	if err != nil {
		return nil, &ExprError{Expr: text, Line: 1, Column: 1, Message: err.Error()}
	}
	e = &Expr{text: text, prog: prog, partial: partial, props: props, str: stringProperty(ast)}
	for _, p := range props {
		e.mask |= propBits[p]
	}
	cache.Lock()
	if len(cache.m) >= cacheMax {
		clear(cache.m)
	}
	cache.m[key] = e
	cache.Unlock()
	return e, nil
}

// referenced lists the top-level properties read as user.<name>, with the id of one reading
// each. An expression using `user` otherwise (passing it whole) reads every property (id 0).
func referenced(a *cel.Ast) ([]string, map[string]int64) {
	at := map[string]int64{}
	idents, selects := 0, 0
	celast.PreOrderVisit(a.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.IdentKind:
			if e.AsIdent() == "user" {
				idents++
			}
		case celast.SelectKind:
			s := e.AsSelect()
			if op := s.Operand(); op.Kind() == celast.IdentKind && op.AsIdent() == "user" {
				selects++
				if _, seen := at[s.FieldName()]; !seen {
					at[s.FieldName()] = e.ID()
				}
			}
		}
	}))
	if idents > selects {
		for _, p := range properties {
			name, _, _ := strings.Cut(strings.TrimPrefix(p.path, "user."), ".")
			if _, seen := at[name]; !seen {
				at[name] = 0
			}
		}
	}
	props := make([]string, 0, len(at))
	for p := range at {
		props = append(props, p)
	}
	sort.Strings(props)
	return props, at
}

// stringProperty returns a reader when the expression is exactly user.<string property>.
func stringProperty(a *cel.Ast) func(*GraphUser) string {
	root := a.NativeRep().Expr()
	if root.Kind() != celast.SelectKind || root.AsSelect().IsTestOnly() {
		return nil
	}
	op := root.AsSelect().Operand()
	if op.Kind() != celast.IdentKind || op.AsIdent() != "user" {
		return nil
	}
	for _, f := range reflect.VisibleFields(reflect.TypeFor[GraphUser]()) {
		if f.Tag.Get("cel") == root.AsSelect().FieldName() && f.Type.Kind() == reflect.String {
			return func(u *GraphUser) string { return reflect.ValueOf(u).Elem().FieldByIndex(f.Index).String() }
		}
	}
	return nil
}

func position(a *cel.Ast, id int64) (line, col int) {
	r, ok := a.NativeRep().SourceInfo().GetOffsetRange(id)
	if !ok {
		return 1, 1
	}
	loc, ok := a.Source().OffsetLocation(r.Start)
	if !ok {
		return 1, 1
	}
	return loc.Line(), loc.Column() + 1
}

// exprError turns CEL's issues into an ExprError for the first one, with a fix.
func exprError(text string, errs []*cel.Error) *ExprError {
	first := errs[0]
	e := &ExprError{Expr: text, Message: strings.TrimSuffix(first.Message, " (in container '')")}
	if first.Location.Line() >= 1 { // CEL's limits (nesting, size) come without one
		e.Line, e.Column = atName(text, first.Location.Line(), first.Location.Column()+1)
	}
	if len(errs) > 1 {
		e.Message += fmt.Sprintf(" (and %d more)", len(errs)-1)
	}
	e.Fix = fixFor(first)
	return e
}

// atName moves a position from the dot CEL reports for a field selection to the field's name.
func atName(text string, line, col int) (int, int) {
	lines := strings.Split(text, "\n")
	if line >= 1 && line <= len(lines) {
		if r := []rune(lines[line-1]); col >= 1 && col < len(r) && r[col-1] == '.' {
			col++
		}
	}
	return line, col
}

func fixFor(err *common.Error) string {
	msg := err.Message
	switch {
	case strings.HasPrefix(msg, "undefined field"):
		return didYouMean(quoted(msg), propertyPaths()) + propertyList
	case strings.HasPrefix(msg, "undeclared reference"):
		return "read properties through user, e.g. user.department; " +
			didYouMean(quoted(msg), propertyPaths()) + propertyList
	case strings.HasPrefix(msg, "found no matching overload"):
		return "compare values of the same type: quote strings ('Sales'), write booleans as true or false, " +
			"timestamps as timestamp('2024-01-31T00:00:00Z'), index lists as user.businessPhones[0]; " + propertyList
	case strings.Contains(msg, "recursion limit exceeded"), strings.Contains(msg, "lookahead limit"):
		return "nest less deeply: CEL allows 250 levels of parentheses, lists and calls; " +
			"write a long list of alternatives as one test, e.g. user.department in ['Sales', 'Support']"
	case strings.Contains(msg, "size exceeds limit"):
		return "shorten the expression (CEL reads at most 100,000 characters); " +
			"write a long list of alternatives as one test, e.g. user.department in ['Sales', 'Support']"
	case strings.Contains(msg, "Syntax error"):
		return "check quotes and parentheses, and use ==, &&, || and ! (e.g. user.department == 'Sales' && user.accountEnabled)"
	}
	return propertyList
}

func propertyPaths() []string {
	out := make([]string, len(properties))
	for i, p := range properties {
		out[i] = p.path
	}
	return out
}

func quoted(msg string) string {
	_, rest, _ := strings.Cut(msg, "'")
	name, _, _ := strings.Cut(rest, "'")
	return name
}

// didYouMean suggests the candidate whose last part is closest to name (case-insensitive,
// at most two edits away), or nothing.
func didYouMean(name string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		last := strings.ToLower(c[strings.LastIndex(c, ".")+1:])
		d := editDistance(strings.ToLower(name), last)
		if len(name) >= 4 && strings.HasPrefix(last, strings.ToLower(name)) {
			d = min(d, 2) // a shortened name: lastSignIn for lastSignInDateTime
		}
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" || name == "" {
		return ""
	}
	return "did you mean " + best + "? "
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// vars is the activation binding `user`; one per user serves all his expressions.
type vars struct{ user *GraphUser }

func (v vars) ResolveName(name string) (any, bool) {
	if name == "user" {
		return v.user, true
	}
	return nil, false
}

func (vars) Parent() interpreter.Activation { return nil }

func (e *Expr) eval(v vars) (ref.Val, error) {
	out, _, err := e.prog.Eval(v)
	if err != nil {
		return nil, err
	}
	if types.IsError(out) {
		return nil, out.Value().(error)
	}
	return out, nil
}

// known tells whether the expression's result for v's user does not depend on a property his
// JSON left out (Graph leaves out what it does not send: such a property is unknown, not empty).
func (e *Expr) known(v vars) bool {
	missing := v.user.missing(e.mask)
	if missing == 0 {
		return true
	}
	var unknowns []*cel.AttributePatternType
	for _, p := range e.props {
		if propBits[p]&missing != 0 {
			unknowns = append(unknowns, cel.AttributePattern("user").QualString(p))
		}
	}
	act, err := cel.PartialVars(v, unknowns...)
	if err != nil {
		return false
	}
	out, _, err := e.partial.Eval(act)
	return err == nil && !types.IsUnknown(out)
}

// Filter is a compiled site-mapping filter; the empty filter matches every user.
type Filter struct {
	expr *Expr
}

// CompileFilter compiles and type-checks a filter: a CEL expression over user yielding a bool.
// Refused with the position and a fix: syntax errors, unknown properties, type errors,
// non-bool results and list-only properties (signInActivity).
func CompileFilter(text string) (*Filter, error) {
	if strings.TrimSpace(text) == "" {
		return &Filter{}, nil
	}
	e, err := compile(text, cel.BoolType, "a filter must yield true or false, e.g. user.department == 'Sales'")
	if err != nil {
		return nil, err
	}
	return &Filter{expr: e}, nil
}

// Text is the filter as written ("" for the empty filter).
func (f *Filter) Text() string {
	if f.expr == nil {
		return ""
	}
	return f.expr.text
}

// Match tells whether the filter matches u. A runtime error (an index out of range, a cost
// limit) is "no match", with the error as the reason.
func (f *Filter) Match(u *GraphUser) (bool, error) { return f.match(vars{u}) }

func (f *Filter) match(v vars) (bool, error) {
	if f.expr == nil {
		return true, nil
	}
	out, err := f.expr.eval(v)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("filter yielded %s, not a bool", out.Type().TypeName())
	}
	return b, nil
}

// known tells whether the filter's verdict for v's user does not depend on a property his JSON
// left out.
func (f *Filter) known(v vars) bool { return f.expr == nil || f.expr.known(v) }

// Source is where a page of users comes from; it decides what the page can carry.
type Source int

const (
	// Delta pages (users/delta) can select every property but signInActivity; an updated
	// user in a delta-link round may carry only the changed ones (Page.Partial).
	Delta Source = iota
	// SignIns pages (list users with signInActivity, premium tenants) refresh the mappings
	// that read signInActivity, for users already in the PSA.
	SignIns
)

// SelectFor lists the $select for pages of src read by these expressions: id plus the
// properties they read (for Delta also accountEnabled, which account state needs), sorted.
// Graph fixes $select in a delta link, so a changed list needs a new full round. For SignIns it
// is nil when no expression reads a list-only property: there is no sign-in pass to make.
func SelectFor(src Source, exprs ...*Expr) []string {
	set := map[string]bool{"id": true}
	if src == Delta {
		set["accountEnabled"] = true
	}
	listed := false
	for _, e := range exprs {
		for _, p := range e.props {
			if listOnly[p] == (src == SignIns) {
				set[p] = true
				listed = listed || listOnly[p]
			}
		}
	}
	if src == SignIns && !listed {
		return nil
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

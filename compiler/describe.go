package compiler

import (
	"fmt"
	"slices"
	"strings"

	"cuelang.org/go/cue"
)

// schemaAt returns the schema's constraint at rel, following pattern
// constraints for map keys (nodes.lb1) and list elements.
func schemaAt(s cue.Value, rel []string) cue.Value {
	for _, l := range rel {
		sel := selector(l)
		next := s.LookupPath(cue.MakePath(sel))
		if !next.Exists() && sel.Type() == cue.StringLabel {
			next = s.LookupPath(cue.MakePath(sel.Optional()))
		}
		if !next.Exists() {
			any := cue.AnyString
			if sel.Type() == cue.IndexLabel {
				any = cue.AnyIndex
			}
			next = s.LookupPath(cue.MakePath(any))
		}
		if !next.Exists() {
			return cue.Value{}
		}
		s = next
	}
	return s
}

// describe puts the schema's constraint at rel in words, e.g. "1..255",
// "2 or 3", or "a duration such as \"1s\"". It returns "" when it cannot.
func describe(s cue.Value, rel []string) string {
	v := schemaAt(s, rel)
	if !v.Exists() {
		return ""
	}
	return describeValue(v)
}

// durationWords describes the schema's #Duration.
const durationWords = `a duration such as "1s", "100ms" or "1.5s"`

// kindWords names the CUE kinds.
var kindWords = map[cue.Kind]string{
	cue.StringKind: "a string", cue.IntKind: "an integer", cue.BoolKind: "true or false",
	cue.NumberKind: "a number", cue.StructKind: "a struct {...}", cue.ListKind: "a list [...]",
}

func describeValue(v cue.Value) string {
	op, args := v.Expr()
	switch op {
	case cue.OrOp:
		var alts []string
		for _, a := range args {
			// A nested disjunction (a default next to a reference
			// such as *"netplan" | #NetworkRenderer) lists each
			// alternative once.
			d := describeValue(a)
			if d == durationWords {
				return durationWords // a duration with a default
			}
			for _, d := range strings.Split(d, " or ") {
				if d != "" && !slices.Contains(alts, d) {
					alts = append(alts, d)
				}
			}
		}
		return strings.Join(alts, " or ")
	case cue.AndOp:
		var lo, hi, other string
		var walk func(cue.Value)
		walk = func(a cue.Value) {
			aop, aargs := a.Expr()
			switch {
			case aop == cue.AndOp:
				for _, x := range aargs {
					walk(x)
				}
			case aop == cue.GreaterThanEqualOp && len(aargs) == 1:
				lo = fmt.Sprint(aargs[0])
			case aop == cue.LessThanEqualOp && len(aargs) == 1:
				hi = fmt.Sprint(aargs[0])
			case other == "":
				other = describeValue(a)
			}
		}
		walk(v)
		switch {
		case lo != "" && hi != "":
			return lo + ".." + hi
		case lo != "":
			return "at least " + lo
		case hi != "":
			return "at most " + hi
		}
		return other
	case cue.GreaterThanEqualOp, cue.LessThanEqualOp, cue.GreaterThanOp, cue.LessThanOp:
		if len(args) == 1 {
			return describeBound(opString(op) + fmt.Sprint(args[0]))
		}
	}
	s := fmt.Sprint(v)
	switch {
	case strings.HasPrefix(s, "=~"):
		return durationWords
	case v.IsConcrete() && v.Kind() != cue.StructKind && v.Kind() != cue.ListKind:
		return s
	}
	// A reference such as #NetworkRenderer: describe what it stands for.
	if e := v.Eval(); e.IncompleteKind() == v.IncompleteKind() {
		if eop, _ := e.Expr(); eop == cue.OrOp {
			return describeValue(e)
		}
	}
	if w, ok := kindWords[v.IncompleteKind()]; ok {
		return w
	}
	return ""
}

// describeBound turns a single bound such as "<=255" into words.
func describeBound(b string) string {
	for _, w := range []struct{ op, words string }{{"<=", "at most "}, {">=", "at least "}, {"<", "less than "}, {">", "more than "}} {
		if rest, ok := strings.CutPrefix(b, w.op); ok {
			return w.words + rest
		}
	}
	return b
}

// opString returns the CUE spelling of a bound operator.
func opString(op cue.Op) string {
	switch op {
	case cue.GreaterThanEqualOp:
		return ">="
	case cue.LessThanEqualOp:
		return "<="
	case cue.GreaterThanOp:
		return ">"
	}
	return "<"
}

// Package keepalived reads keepalived.conf files (the VRRP part of
// keepalived 2.2.7's syntax) and converts a set of them, one per node, into
// one hac cluster description in CUE.
//
// Parsing happens in two steps. [Parse] tokenizes a file and builds a tree
// of statements with their positions, knowing nothing of the directives.
// [Decode] interprets the tree as a [Config] and reports every directive it
// does not support with its position, so nothing is dropped silently.
// [Import] merges the configs of several nodes and reports every
// inconsistency between them instead of guessing.
package keepalived

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/hac-project/hac/model"
)

// A Stmt is one keepalived statement: a keyword, its arguments and, for
// block statements such as vrrp_instance, the statements between braces.
type Stmt struct {
	Pos   model.Pos // position of the keyword
	Words []Word    // keyword first; never empty
	Block []*Stmt   // the statements inside { }; nil without a block
	// HasBlock reports whether the statement had braces (Block may still
	// be empty).
	HasBlock bool
}

// Keyword returns the statement's first word.
func (s *Stmt) Keyword() string { return s.Words[0].Text }

// Args returns the statement's words after the keyword.
func (s *Stmt) Args() []Word { return s.Words[1:] }

// A Word is one token of a statement, unquoted.
type Word struct {
	Text   string
	Pos    model.Pos
	Quoted bool // the word was written between double quotes
}

// A File is a parsed keepalived.conf.
type File struct {
	Name  string
	Stmts []*Stmt
}

// A SyntaxError is a tokenizer or brace error with its position.
type SyntaxError struct {
	Pos model.Pos
	Msg string
}

func (e *SyntaxError) Error() string { return e.Pos.String() + ": " + e.Msg }

type tokKind int

const (
	tokWord tokKind = iota
	tokOpen
	tokClose
	tokNewline
	tokEOF
)

type token struct {
	kind tokKind
	word Word
}

// lexer splits keepalived syntax into words, braces and newlines.
// Comments start with '#' or '!' at the beginning of a word and run to the
// end of the line; '{' and '}' outside quotes are tokens of their own;
// "double quoted" words keep their spaces, with \" and \\ escapes.
type lexer struct {
	name      string
	src       string
	off       int
	line, col int
}

func (l *lexer) pos() model.Pos { return model.Pos{File: l.name, Line: l.line, Col: l.col} }

func (l *lexer) advance() byte {
	c := l.src[l.off]
	l.off++
	if c == '\n' {
		l.line++
		l.col = 1
	} else {
		l.col++
	}
	return c
}

func (l *lexer) next() (token, error) {
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			l.advance()
		case c == '\\' && strings.HasPrefix(l.src[l.off:], "\\\n"):
			// Line continuation.
			l.advance()
			l.advance()
		case c == '#' || c == '!':
			for l.off < len(l.src) && l.src[l.off] != '\n' {
				l.advance()
			}
		case c == '\n':
			p := l.pos()
			l.advance()
			return token{kind: tokNewline, word: Word{Pos: p}}, nil
		case c == '{':
			p := l.pos()
			l.advance()
			return token{kind: tokOpen, word: Word{Text: "{", Pos: p}}, nil
		case c == '}':
			p := l.pos()
			l.advance()
			return token{kind: tokClose, word: Word{Text: "}", Pos: p}}, nil
		case c == '"':
			return l.quoted()
		default:
			p := l.pos()
			start := l.off
			for l.off < len(l.src) && !strings.ContainsRune(" \t\r\f\v\n{}\"", rune(l.src[l.off])) {
				l.advance()
			}
			return wordToken(Word{Text: l.src[start:l.off], Pos: p})
		}
	}
	return token{kind: tokEOF, word: Word{Pos: l.pos()}}, nil
}

// wordToken is the token of w, refused when w is not valid UTF-8: what
// hac writes (CUE, JSON) holds text, and such bytes would come out as
// U+FFFD, another path or name than the file's. Comments may hold any
// bytes.
func wordToken(w Word) (token, error) {
	if !utf8.ValidString(w.Text) {
		return token{}, &SyntaxError{Pos: w.Pos, Msg: fmt.Sprintf("%q is not valid UTF-8, which hac's files (CUE, JSON) need: "+
			"convert the file (e.g. iconv -f LATIN1 -t UTF-8) or fix those bytes", w.Text)}
	}
	return token{kind: tokWord, word: w}, nil
}

func (l *lexer) quoted() (token, error) {
	p := l.pos()
	l.advance() // opening quote
	var b strings.Builder
	for l.off < len(l.src) {
		c := l.advance()
		switch c {
		case '"':
			return wordToken(Word{Text: b.String(), Pos: p, Quoted: true})
		case '\n':
			return token{}, &SyntaxError{Pos: p, Msg: "unterminated quoted string: add the closing \" on the same line"}
		case '\\':
			if l.off < len(l.src) && (l.src[l.off] == '"' || l.src[l.off] == '\\') {
				c = l.advance()
			}
		}
		b.WriteByte(c)
	}
	return token{}, &SyntaxError{Pos: p, Msg: "unterminated quoted string: add the closing \""}
}

// Parse tokenizes and parses one keepalived.conf. A block's opening brace
// may stand on the keyword's line or on a line of its own; statements end
// at a newline, a '{' or a '}'. Parse knows no directives: see [Decode].
func Parse(name string, src []byte) (*File, error) {
	p := &parser{lx: lexer{name: name, src: string(src), line: 1, col: 1}}
	if err := p.next(); err != nil {
		return nil, err
	}
	stmts, err := p.stmts(nil)
	if err != nil {
		return nil, err
	}
	return &File{Name: name, Stmts: stmts}, nil
}

type parser struct {
	lx  lexer
	tok token
}

func (p *parser) next() error {
	t, err := p.lx.next()
	p.tok = t
	return err
}

// stmts parses statements until EOF (open == nil) or the '}' closing open.
func (p *parser) stmts(open *Word) ([]*Stmt, error) {
	var out []*Stmt
	for {
		switch p.tok.kind {
		case tokNewline:
			if err := p.next(); err != nil {
				return nil, err
			}
		case tokEOF:
			if open != nil {
				return nil, &SyntaxError{Pos: open.Pos, Msg: "'{' is never closed: add the matching '}'"}
			}
			return out, nil
		case tokClose:
			if open == nil {
				return nil, &SyntaxError{Pos: p.tok.word.Pos, Msg: "unexpected '}' without a matching '{'"}
			}
			return out, p.next()
		case tokOpen:
			return nil, &SyntaxError{Pos: p.tok.word.Pos, Msg: "'{' without a keyword before it"}
		case tokWord:
			s, err := p.stmt()
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	}
}

func (p *parser) stmt() (*Stmt, error) {
	s := &Stmt{Pos: p.tok.word.Pos}
	for p.tok.kind == tokWord {
		s.Words = append(s.Words, p.tok.word)
		if err := p.next(); err != nil {
			return nil, err
		}
	}
	if p.tok.kind == tokNewline {
		// The opening brace may stand on the next line(s).
		save := p.lx
		saveTok := p.tok
		for p.tok.kind == tokNewline {
			if err := p.next(); err != nil {
				return nil, err
			}
		}
		if p.tok.kind != tokOpen {
			p.lx, p.tok = save, saveTok
			return s, nil
		}
	}
	if p.tok.kind == tokOpen {
		open := p.tok.word
		if err := p.next(); err != nil {
			return nil, err
		}
		block, err := p.stmts(&open)
		if err != nil {
			return nil, err
		}
		s.HasBlock = true
		s.Block = block
		if s.Block == nil {
			s.Block = []*Stmt{}
		}
	}
	return s, nil
}

// String formats the file back in keepalived syntax, one statement per
// line, blocks indented by two spaces. Words holding spaces, braces,
// quotes or comment characters are quoted.
func (f *File) String() string {
	var b strings.Builder
	writeStmts(&b, f.Stmts, 0)
	return b.String()
}

func writeStmts(b *strings.Builder, stmts []*Stmt, depth int) {
	for _, s := range stmts {
		b.WriteString(strings.Repeat("  ", depth))
		for i, w := range s.Words {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(quoteWord(w))
		}
		if s.HasBlock {
			b.WriteString(" {\n")
			writeStmts(b, s.Block, depth+1)
			b.WriteString(strings.Repeat("  ", depth) + "}")
		}
		b.WriteByte('\n')
	}
}

func quoteWord(w Word) string {
	t := w.Text
	if !w.Quoted && t != "" && !strings.ContainsAny(t, " \t\r\n\f\v{}\"") && t[0] != '#' && t[0] != '!' &&
		!strings.HasSuffix(t, "\\") {
		return t
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return fmt.Sprintf(`"%s"`, r.Replace(t))
}

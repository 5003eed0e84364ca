package sqltext

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

// dumpLikeScript is BenchmarkParseStream's stream: 2000 INSERTs of 100
// rows with escaped quotes and backslashes.
func dumpLikeScript() string {
	var sb strings.Builder
	sb.WriteString("/*!40101 SET NAMES utf8mb4 */;\nCREATE DATABASE `app`;\nUSE `app`;\n")
	for i := range 2000 {
		sb.WriteString("INSERT INTO `t` (`id`,`s`) VALUES ")
		for j := range 100 {
			if j > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "(%d,'row %d with an escaped \\' quote, a \\\\ backslash and some text to make it longer: %d')", i*100+j, j, i)
		}
		sb.WriteString(";\n")
	}
	return sb.String()
}

// BenchmarkScanSplitter and BenchmarkScanLexer compare the two scanners
// alone over the same stream: the Splitter cutting statements, the
// lexer's scanner reading every token of it (what a Splitter built on the
// lexer's loop would at least do).
func BenchmarkScanSplitter(b *testing.B) {
	script := dumpLikeScript()
	b.SetBytes(int64(len(script)))
	b.ResetTimer()
	for range b.N {
		s := NewSplitter(strings.NewReader(script))
		for {
			if _, err := s.Next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkScanLexer(b *testing.B) {
	script := dumpLikeScript()
	b.SetBytes(int64(len(script)))
	b.ResetTimer()
	for range b.N {
		x := newScanner(script, LexState{}, DefaultServerVersion, false)
		for {
			_, ok, err := x.next()
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				break
			}
		}
	}
}

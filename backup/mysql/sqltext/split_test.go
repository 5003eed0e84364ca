package sqltext

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func splitStrings(t testing.TB, in string) []string {
	t.Helper()
	sts, err := SplitAll(strings.NewReader(in))
	if err != nil {
		t.Fatalf("split %q: %v", in, err)
	}
	out := make([]string, len(sts))
	for i, s := range sts {
		out[i] = s.SQL
	}
	return out
}

func TestSplitter(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"SELECT 1; SELECT 2;", []string{"SELECT 1", "SELECT 2"}},
		{"SELECT 1", []string{"SELECT 1"}},
		{";;; \n ;", nil},
		{"SELECT 'a;b', \"c;d\", `e;f`;", []string{"SELECT 'a;b', \"c;d\", `e;f`"}},
		{`SELECT 'it\'s;', "x\";y", 'a''b;';`, []string{`SELECT 'it\'s;', "x\";y", 'a''b;'`}},
		{"SELECT `a``;b`;", []string{"SELECT `a``;b`"}},
		{"-- leading; comment\n# another;\n/* block; */ SELECT 1 -- inside;\n, 2 /* in; */;", []string{"SELECT 1 -- inside;\n, 2 /* in; */"}},
		{"SELECT 1--1;", []string{"SELECT 1--1"}},
		{"/*!40101 SET NAMES utf8mb4 */;\n/*M!100616 SET x=1 */;", []string{"/*!40101 SET NAMES utf8mb4 */", "/*M!100616 SET x=1 */"}},
		{"DELIMITER ;;\nCREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END ;;\nDELIMITER ;\nSELECT 3;",
			[]string{"CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END", "SELECT 3"}},
		{"delimiter $$\nSELECT 1$$ SELECT 2 $$\ndelimiter ;\n", []string{"SELECT 1", "SELECT 2"}},
		{"SELECT 'unterminated; string", []string{"SELECT 'unterminated; string"}},
		{"SELECT 1 /* unterminated", []string{"SELECT 1 /* unterminated"}},
		{"SELECT 'x\\\\';SELECT 2;", []string{"SELECT 'x\\\\'", "SELECT 2"}},
		{"INSERT INTO t VALUES ('\n\n');\nSELECT 1;", []string{"INSERT INTO t VALUES ('\n\n')", "SELECT 1"}},
		{"/*M!999999\\- enable the sandbox mode */\nSELECT 1;", []string{"/*M!999999\\- enable the sandbox mode */\nSELECT 1"}},
	}
	for _, c := range cases {
		got := splitStrings(t, c.in)
		if strings.Join(got, "\x00") != strings.Join(c.want, "\x00") || len(got) != len(c.want) {
			t.Errorf("split %q:\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestSplitterLinesAndOffsets(t *testing.T) {
	in := "-- c\nSELECT 1;\n\nSELECT\n'a\nb';\nDELIMITER //\nSELECT 3//"
	sts, err := SplitAll(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	wantLines := []int{2, 4, 8}
	for i, st := range sts {
		if st.Line != wantLines[i] {
			t.Errorf("statement %d line %d, want %d", i, st.Line, wantLines[i])
		}
		if in[st.Offset:st.Offset+int64(len(st.SQL))] != st.SQL {
			t.Errorf("statement %d offset %d does not point at it", i, st.Offset)
		}
	}
	if len(sts) != 3 || sts[2].Delimiter != "//" || !sts[2].Terminated {
		t.Errorf("statements: %+v", sts)
	}
}

func TestSplitterErrors(t *testing.T) {
	if _, err := SplitAll(strings.NewReader("DELIMITER \nSELECT 1;")); err == nil {
		t.Errorf("empty DELIMITER accepted")
	}
	if _, err := SplitAll(iotest.TimeoutReader(strings.NewReader(strings.Repeat("SELECT 1;", 100000)))); err == nil {
		t.Errorf("read error not reported")
	}
}

// A statement far larger than any buffer (bufio.Scanner's 64 KiB limit
// broke other restorers), read one byte at a time.
func TestSplitterHugeStatement(t *testing.T) {
	big := "INSERT INTO t VALUES ('" + strings.Repeat("x;'';\\'", 3<<20) + "');"
	sts, err := SplitAll(iotest.OneByteReader(strings.NewReader(big + "\nSELECT 1;")))
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 2 || sts[0].SQL != big[:len(big)-1] || sts[1].SQL != "SELECT 1" {
		t.Fatalf("got %d statements", len(sts))
	}
}

// join writes statements back as a script the splitter reads identically.
func join(sts []Statement) string {
	var b strings.Builder
	cur := ";"
	for _, s := range sts {
		if s.Delimiter != cur {
			b.WriteString("DELIMITER " + s.Delimiter + "\n")
			cur = s.Delimiter
		}
		b.WriteString(s.SQL)
		if s.Terminated {
			if s.tailComment {
				b.WriteString("\n")
			}
			b.WriteString(s.Delimiter + "\n")
		}
	}
	return b.String()
}

func checkSplit(t *testing.T, in string) {
	sts, err := SplitAll(strings.NewReader(in))
	if err != nil {
		return // malformed DELIMITER lines are reported, not panics
	}
	var last int64 = -1
	for i, s := range sts {
		if s.SQL == "" {
			t.Fatalf("statement %d is empty", i)
		}
		if s.Offset <= last || s.Offset+int64(len(s.SQL)) > int64(len(in)) || in[s.Offset:s.Offset+int64(len(s.SQL))] != s.SQL {
			t.Fatalf("statement %d (%q) is not the input at offset %d", i, s.SQL, s.Offset)
		}
		last = s.Offset + int64(len(s.SQL)) - 1
		if !s.Terminated && i != len(sts)-1 {
			t.Fatalf("unterminated statement %d is not the last", i)
		}
	}
	// Round trip: writing the statements back and splitting again gives
	// the same statements (for delimiters made of punctuation, as used in
	// real scripts).
	for _, s := range sts {
		if strings.ContainsAny(s.Delimiter, "'\"`#-/*\\ \t\r\n") || strings.HasSuffix(s.SQL, "\\") {
			return
		}
		// A statement ending in part of the delimiter (or in "-", "/")
		// would fuse with it when written back.
		if last := s.SQL[len(s.SQL)-1]; strings.IndexByte(s.Delimiter+"-/", last) >= 0 {
			return
		}
	}
	again, err := SplitAll(strings.NewReader(join(sts)))
	if err != nil {
		t.Fatalf("re-split: %v", err)
	}
	if len(again) != len(sts) {
		t.Fatalf("round trip: %d statements, then %d\nin: %q\njoined: %q", len(sts), len(again), in, join(sts))
	}
	for i := range sts {
		if again[i].SQL != sts[i].SQL || again[i].Delimiter != sts[i].Delimiter {
			t.Fatalf("round trip: statement %d %q became %q", i, sts[i].SQL, again[i].SQL)
		}
	}
	// Chunked reads give the same result.
	one, err := SplitAll(iotest.HalfReader(strings.NewReader(in)))
	if err != nil || len(one) != len(sts) {
		t.Fatalf("half reads: %d statements, %v", len(one), err)
	}
	for i := range sts {
		if one[i] != sts[i] {
			t.Fatalf("half reads: statement %d differs", i)
		}
	}
}

func FuzzSplitter(f *testing.F) {
	for _, s := range []string{
		"SELECT 1; SELECT 2;",
		"SELECT 'a;b', \"c\\\";d\", `e``;f`;",
		"-- c\n# c\n/* c; */ SELECT 1 /* x */;",
		"DELIMITER ;;\nCREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET @a=1; END ;;\nDELIMITER ;\n",
		"/*!40101 SET NAMES utf8mb4 */;",
		"INSERT INTO t VALUES ('\\0\\'\\\\',0x00,NULL);",
		"SELECT 'open",
		"SELECT 1 /* open",
		"SELECT 1 -- tail",
		"delimiter $$\nselect 1$$",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkSplit(t, in)
		checkSplitFast(t, in)
	})
}

func TestSplitterOnDumpLikeInput(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("-- ops backup SQL dump\n/*!40101 SET NAMES utf8mb4 */;\n")
	for i := range 1000 {
		b.WriteString("INSERT INTO `t` (`a`,`b`) VALUES (1,'x\\'y;'),(2,0x00FF);\n")
		if i%100 == 0 {
			b.WriteString("DELIMITER ;;\nCREATE TRIGGER x BEFORE INSERT ON t FOR EACH ROW SET @a = ';' ;;\nDELIMITER ;\n")
		}
	}
	sts, err := SplitAll(io.MultiReader(&b))
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 1+1000+10 {
		t.Errorf("%d statements", len(sts))
	}
}

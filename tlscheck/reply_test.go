package tlscheck

import (
	"bufio"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestParseReply(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Reply
		wantErr error
	}{
		{"single", "220 mx.example.com ESMTP\r\n", Reply{Code: 220, Lines: []string{"mx.example.com ESMTP"}}, nil},
		{"multi-line", "250-mx.example.com\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n",
			Reply{Code: 250, Lines: []string{"mx.example.com", "PIPELINING", "STARTTLS", "8BITMIME"}}, nil},
		{"bare code", "250\r\n", Reply{Code: 250, Lines: []string{""}}, nil},
		{"LF only", "220-a\n220 b\n", Reply{Code: 220, Lines: []string{"a", "b"}}, nil},
		{"enhanced STARTTLS reply", "220 2.0.0 Ready to start TLS\r\n", Reply{Code: 220, Lines: []string{"2.0.0 Ready to start TLS"}}, nil},
		{"code changes mid-reply", "250-a\r\n251 b\r\n", Reply{}, ErrMalformedReply},
		{"not a reply", "HTTP/1.1 400 Bad Request\r\n", Reply{}, ErrMalformedReply},
		{"bad separator", "250_x\r\n", Reply{}, ErrMalformedReply},
		{"code out of range", "600 x\r\n", Reply{}, ErrMalformedReply},
		{"truncated multi-line", "250-a\r\n250-b", Reply{}, io.ErrUnexpectedEOF},
		{"empty", "", Reply{}, io.EOF},
		{"line too long", "250 " + strings.Repeat("x", maxReplyLine) + "\r\n", Reply{}, ErrMalformedReply},
		{"too many lines", strings.Repeat("220-x\r\n", maxReplyLines+1), Reply{}, ErrMalformedReply},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseReply(tc.in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

// A reply must not consume what follows it (pipelined or early data).
func TestReadReplyStopsAtFinalLine(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("220 hi\r\n250-a\r\n250 b\r\n"))
	r1, err := ReadReply(br)
	if err != nil || r1.Code != 220 {
		t.Fatalf("first: %v %v", r1, err)
	}
	r2, err := ReadReply(br)
	if err != nil || r2.Code != 250 || len(r2.Lines) != 2 {
		t.Fatalf("second: %v %v", r2, err)
	}
}

func TestEHLOExtensions(t *testing.T) {
	r, _ := ParseReply("250-mx.example.com Hello\r\n250-SIZE 1000\r\n250-starttls\r\n250 ENHANCEDSTATUSCODES\r\n")
	got := EHLOExtensions(r)
	want := []string{"SIZE", "STARTTLS", "ENHANCEDSTATUSCODES"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// The greeting line is not an extension even if it says STARTTLS.
	r2, _ := ParseReply("250-STARTTLS\r\n250 SIZE\r\n")
	if hasExtension(EHLOExtensions(r2), "STARTTLS") {
		t.Error("first EHLO line taken as an extension")
	}
}

func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		"220 ok\r\n", "250-a\r\n250 b\r\n", "250\r\n", "220-x\n220 y\n", "454 4.7.0 TLS not available\r\n",
		"2", "999 x\r\n", "250-a\r\n251 b\r\n", "\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReply(s)
		if err != nil {
			return
		}
		if r.Code < 200 || r.Code > 599 {
			t.Fatalf("code %d accepted", r.Code)
		}
		if len(r.Lines) == 0 || len(r.Lines) > maxReplyLines {
			t.Fatalf("%d lines", len(r.Lines))
		}
		// Re-serializing and parsing again gives the same reply.
		var b strings.Builder
		for i, l := range r.Lines {
			sep := "-"
			if i == len(r.Lines)-1 {
				sep = " "
			}
			b.WriteString(itoa3(r.Code) + sep + l + "\r\n")
		}
		r2, err := ParseReply(b.String())
		if err != nil {
			t.Fatalf("round trip of %q: %v", b.String(), err)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip: %#v != %#v", r, r2)
		}
	})
}

func itoa3(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}

package tlsrpt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"time"
)

// ErrMalformed is wrapped by every error about input that is not a readable
// TLSRPT report (bad JSON, a missing required field, a corrupt gzip stream,
// an e-mail without a report part).
var ErrMalformed = errors.New("not a readable TLSRPT report")

// Policy types (RFC 8460 §4.4).
const (
	PolicySTS           = "sts"
	PolicyTLSA          = "tlsa"
	PolicyNoPolicyFound = "no-policy-found"
)

// Report is one aggregate report.
type Report struct {
	OrganizationName string
	ContactInfo      string
	ReportID         string
	Start, End       time.Time // zero when the reporter left date-range out
	Policies         []PolicyResult
}

// PolicyResult is one element of "policies": the policy applied and the
// sessions counted under it.
type PolicyResult struct {
	Type         string   // sts, tlsa or no-policy-found
	Domain       string   // "" only for no-policy-found from a reporter that omits it
	PolicyString []string // the policy as the sender saw it (TLSA records, MTA-STS lines)
	MXHosts      []string
	Successful   int64
	Failed       int64
	Failures     []Failure
}

// Failure is one element of "failure-details". Fields a reporter left out
// are "" (Microsoft sends neither sending-mta-ip nor receiving-mx-hostname
// in some reports).
type Failure struct {
	ResultType     string
	SendingMTAIP   string
	ReceivingMX    string
	ReceivingIP    string
	ReceivingHelo  string
	ReasonCode     string
	AdditionalInfo string
	FailedSessions int64
}

// The wire form. Pointers tell a missing field from a zero.
type wireReport struct {
	OrganizationName *string        `json:"organization-name"`
	DateRange        *wireDateRange `json:"date-range"`
	ContactInfo      *string        `json:"contact-info"`
	ReportID         *string        `json:"report-id"`
	Policies         *[]wirePolicy  `json:"policies"`
}

type wireDateRange struct {
	Start *string `json:"start-datetime"`
	End   *string `json:"end-datetime"`
}

type wirePolicy struct {
	Policy  *wirePolicyDesc `json:"policy"`
	Summary *struct {
		Successful *int64 `json:"total-successful-session-count"`
		Failed     *int64 `json:"total-failure-session-count"`
	} `json:"summary"`
	FailureDetails []wireFailure `json:"failure-details"`
}

type wirePolicyDesc struct {
	Type         *string         `json:"policy-type"`
	PolicyString []string        `json:"policy-string"`
	Domain       *string         `json:"policy-domain"`
	MXHost       json.RawMessage `json:"mx-host"`
}

type wireFailure struct {
	ResultType     *string `json:"result-type"`
	SendingMTAIP   *string `json:"sending-mta-ip"`
	ReceivingMX    *string `json:"receiving-mx-hostname"`
	ReceivingHelo  *string `json:"receiving-mx-helo"`
	ReceivingIP    *string `json:"receiving-ip"`
	FailedSessions *int64  `json:"failed-session-count"`
	AdditionalInfo *string `json:"additional-information"`
	ReasonCode     *string `json:"failure-reason-code"`
}

// ParseJSON reads one report from its JSON text. Unknown fields are
// ignored (RFC 8460 allows extensions); a required one that is missing, a
// field of the wrong type, a negative count, an unknown policy type or
// text after the object is an error wrapping ErrMalformed.
func ParseJSON(data []byte) (*Report, error) {
	data = bytes.TrimLeft(data, " \t\r\n\ufeff") // a UTF-8 byte-order mark, which some senders write
	dec := json.NewDecoder(bytes.NewReader(data))
	var w wireReport
	if err := dec.Decode(&w); err != nil {
		return nil, malformed("JSON: %s", jsonErr(err))
	}
	if dec.More() {
		return nil, malformed("JSON: text after the report object")
	}
	if _, err := dec.Token(); err == nil {
		return nil, malformed("JSON: text after the report object")
	}
	return w.report()
}

func (w wireReport) report() (*Report, error) {
	r := &Report{OrganizationName: str(w.OrganizationName), ContactInfo: str(w.ContactInfo), ReportID: str(w.ReportID)}
	if w.DateRange != nil {
		var err error
		if r.Start, err = datetime("date-range.start-datetime", w.DateRange.Start); err != nil {
			return nil, err
		}
		if r.End, err = datetime("date-range.end-datetime", w.DateRange.End); err != nil {
			return nil, err
		}
	}
	if w.Policies == nil {
		return nil, malformed(`"policies" is missing: expected an array of policy results`)
	}
	for i, p := range *w.Policies {
		pr, err := p.result()
		if err != nil {
			return nil, fmt.Errorf("policies[%d]: %w", i, err)
		}
		r.Policies = append(r.Policies, pr)
	}
	return r, nil
}

func (p wirePolicy) result() (PolicyResult, error) {
	var pr PolicyResult
	if p.Policy == nil {
		return pr, malformed(`"policy" is missing: expected an object with policy-type`)
	}
	pr.Type = strings.ToLower(strings.TrimSpace(str(p.Policy.Type)))
	switch pr.Type {
	case PolicySTS, PolicyTLSA, PolicyNoPolicyFound:
	case "":
		return pr, malformed(`policy.policy-type is missing: expected sts, tlsa or no-policy-found`)
	default:
		return pr, malformed(`policy.policy-type %q: expected sts, tlsa or no-policy-found`, pr.Type)
	}
	pr.Domain = normDomain(str(p.Policy.Domain))
	if pr.Domain == "" && pr.Type != PolicyNoPolicyFound {
		return pr, malformed(`policy.policy-domain is missing for policy-type %s: expected the domain the policy is for`, pr.Type)
	}
	pr.PolicyString = p.Policy.PolicyString
	mx, err := mxHosts(p.Policy.MXHost)
	if err != nil {
		return pr, err
	}
	pr.MXHosts = mx
	if p.Summary == nil {
		return pr, malformed(`"summary" is missing: expected total-successful-session-count and total-failure-session-count`)
	}
	if pr.Successful, err = count("summary.total-successful-session-count", p.Summary.Successful); err != nil {
		return pr, err
	}
	if pr.Failed, err = count("summary.total-failure-session-count", p.Summary.Failed); err != nil {
		return pr, err
	}
	for i, f := range p.FailureDetails {
		if f.ResultType == nil || strings.TrimSpace(*f.ResultType) == "" {
			return pr, malformed("failure-details[%d].result-type is missing", i)
		}
		n, err := count(fmt.Sprintf("failure-details[%d].failed-session-count", i), f.FailedSessions)
		if err != nil {
			return pr, err
		}
		pr.Failures = append(pr.Failures, Failure{
			ResultType:     strings.ToLower(strings.TrimSpace(*f.ResultType)),
			SendingMTAIP:   normIP(str(f.SendingMTAIP)),
			ReceivingMX:    normDomain(str(f.ReceivingMX)),
			ReceivingIP:    normIP(str(f.ReceivingIP)),
			ReceivingHelo:  str(f.ReceivingHelo),
			ReasonCode:     str(f.ReasonCode),
			AdditionalInfo: str(f.AdditionalInfo),
			FailedSessions: n,
		})
	}
	return pr, nil
}

// mxHosts accepts mx-host as a list of strings (RFC 8460 §4.4's schema) or
// as one string (the RFC's example), or null/absent.
func mxHosts(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	return nil, malformed("policy.mx-host: expected a string or a list of strings")
}

func count(field string, n *int64) (int64, error) {
	if n == nil {
		return 0, malformed("%s is missing: expected a count", field)
	}
	if *n < 0 {
		return 0, malformed("%s is %d: expected a count ≥ 0", field, *n)
	}
	return *n, nil
}

func datetime(field string, s *string) (time.Time, error) {
	if s == nil || *s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, *s)
	if err != nil {
		return time.Time{}, malformed("%s %q: expected an RFC 3339 date-time such as 2016-04-01T00:00:00Z", field, *s)
	}
	return t, nil
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func normDomain(s string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
}

// normIP writes an address in its canonical form (2001:db8:abcd:0012::1 →
// 2001:db8:abcd:12::1) so that one sender counts once; anything else is kept.
func normIP(s string) string {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().String()
	}
	return s
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// jsonErr words a decoding error with the field it concerns.
func jsonErr(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Sprintf("got %s, expected a JSON object", te.Value)
		}
		return fmt.Sprintf("field %s: got %s, expected %s", te.Field, te.Value, kindName(te.Type))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	}
	if errors.Is(err, io.EOF) {
		return "empty input: expected a JSON object"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "the text ends inside the report (truncated?)"
	}
	return err.Error()
}

// kindName words a Go type of the wire form as JSON.
func kindName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 { // json.RawMessage
			return "a value"
		}
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Int64, reflect.Int:
		return "a whole number"
	case reflect.String:
		return "a string"
	}
	return t.Kind().String()
}

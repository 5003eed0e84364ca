package inventory

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsteam/ops/internal/testenv"
)

// The HTML page renders in a real browser without script errors, its
// sortable-table script runs, and a 1400x1000 screenshot is produced.
// Set OPS_SCREENSHOT_DIR to keep the PNG.
func TestHTMLChromium(t *testing.T) {
	testenv.RequireIT(t)
	dir := testenv.Getenv("OPS_SCREENSHOT_DIR", t.TempDir())
	page := filepath.Join(dir, "inventory.html")
	var b bytes.Buffer
	if err := Render(&b, sampleReport(t), FormatHTML, KindAll); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	png := filepath.Join(dir, "inventory.png")
	_, stderr := testenv.Chromium(t, "--screenshot="+png, "--window-size=1400,1000", "file://"+page)
	if strings.Contains(stderr, "Uncaught") {
		t.Errorf("script error in the page:\n%s", stderr)
	}
	w, h, size := pngInfo(t, png)
	if w != 1400 || h != 1000 || size < 50_000 {
		t.Errorf("screenshot %s: %dx%d, %d bytes; want 1400x1000 and a non-blank image", png, w, h, size)
	}
	t.Logf("screenshot: %s", png)

	// the DOM after scripts ran: every sortable header got its handler title
	dom, _ := testenv.Chromium(t, "--dump-dom", "file://"+page)
	if !strings.Contains(dom, `<th title="sort"`) || !strings.Contains(dom, "esx03.example.net") {
		t.Errorf("the page's script did not run or content is missing:\n%.500s", dom)
	}
}

// The page with a history: the trend chart and the changes since the
// previous snapshot render in a real browser (the chart is inline SVG and
// needs no script), and the screenshot shows them (docs/inventory-history.png
// is one, taken with OPS_SCREENSHOT_DIR).
func TestHTMLHistoryChromium(t *testing.T) {
	testenv.RequireIT(t)
	dir := testenv.Getenv("OPS_SCREENSHOT_DIR", t.TempDir())
	page := filepath.Join(dir, "inventory-history.html")
	var b bytes.Buffer
	if err := RenderHistory(&b, sampleReport(t), FormatHTML, KindAll, sampleHistory(t)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	png := filepath.Join(dir, "inventory-history.png")
	_, stderr := testenv.Chromium(t, "--screenshot="+png, "--window-size=1400,900", "file://"+page)
	if strings.Contains(stderr, "Uncaught") {
		t.Errorf("script error in the page:\n%s", stderr)
	}
	w, h, size := pngInfo(t, png)
	if w != 1400 || h != 900 || size < 50_000 {
		t.Errorf("screenshot %s: %dx%d, %d bytes; want 1400x900 and a non-blank image", png, w, h, size)
	}
	t.Logf("screenshot: %s", png)
	dom, _ := testenv.Chromium(t, "--dump-dom", "file://"+page)
	for _, want := range []string{`<svg class="trend"`, "<polyline", "Changes since the previous snapshot", `<th title="sort"`, "scratch-07"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %q", want)
		}
	}
}

func pngInfo(t *testing.T, path string) (w, h uint32, size int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 24 || string(data[1:4]) != "PNG" {
		t.Fatalf("%s is not a PNG", path)
	}
	return binary.BigEndian.Uint32(data[16:20]), binary.BigEndian.Uint32(data[20:24]), len(data)
}

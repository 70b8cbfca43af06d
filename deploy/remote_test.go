package deploy

import (
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// answer is a Conn whose commands all print the same bytes.
type answer []byte

func (a answer) Run(context.Context, string, string, io.Reader) ([]byte, error) { return a, nil }
func (a answer) Close() error                                                   { return nil }

// localShell runs commands with the local sh: the scripts' own logic,
// without SSH.
type localShell struct{}

func (localShell) Run(ctx context.Context, _, cmd string, stdin io.Reader) ([]byte, error) {
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	c.Stdin = stdin
	return c.Output()
}
func (localShell) Close() error { return nil }

func TestReadScript(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(exec.Command("sh", "-c", `cd "$1" && printf 'a\nb' > f1 && chmod 640 f1 && : > empty && printf "it's\n" > f2 && chmod 4755 f2`, "sh", dir).Run())
	paths := []string{dir + "/f1", dir + "/missing", dir + "/empty", dir + "/f2"}
	got, err := readFiles(context.Background(), localShell{}, paths)
	must(err)
	want := []remoteFile{{true, 0o640, []byte("a\nb")}, {}, {true, 0o644, []byte{}}, {true, 0o4755, []byte("it's\n")}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(remoteFile{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := readFiles(context.Background(), localShell{}, []string{dir}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: err = %v", err)
	}
}

func FuzzReadFiles(f *testing.F) {
	f.Add(2, []byte("F\nN\n644 3\n--\nabc"))
	f.Add(1, []byte("N\n"))
	f.Add(1, []byte("F\n600 10\n--\nabc"))
	f.Add(1, []byte("F\n600 -1\n--\n"))
	f.Fuzz(func(t *testing.T, n int, out []byte) {
		if n < 0 || n > 8 {
			return
		}
		paths := make([]string, n)
		files, err := readFiles(context.Background(), answer(out), paths)
		if err != nil {
			return
		}
		total := 0
		for _, f := range files {
			total += len(f.content)
		}
		if total > len(out) {
			t.Fatalf("contents (%d bytes) longer than the answer (%d)", total, len(out))
		}
	})
}

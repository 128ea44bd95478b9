package sync_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	linlisync "github.com/linli/linli/sync"
)

// childEnv makes the test binary run pipelineChild instead of the tests.
const childEnv = "LINLI_SYNC_PIPELINE_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		pipelineChild(dir)
		return
	}
	os.Exit(m.Run())
}

// pipelineChild serves a store in dir whose WAL syncs wait at a gate, and
// obeys one command a line on stdin:
//
//	push <n> <entity> <value>   push mutation n of client 1 in the background; "acked <n>" when answered
//	shut | release              shut or open the gate
//	held                        "held" once a group is applied and its fsync waits at the gate
//	pull                        "pulled <entity>=<value> …": what a Pull shows now
func pipelineChild(dir string) {
	fs := newGatedFS(vfs.Default)
	s, err := linlisync.Open(dir, linlisync.Options{FS: fs, DropInterval: -1})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	out := make(chan string, 16)
	go func() {
		for line := range out {
			fmt.Println(line)
		}
	}()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch f[0] {
		case "push":
			var n uint64
			fmt.Sscan(f[1], &n)
			go func() {
				if _, _, err := s.Push(context.Background(), client(1), []linlisync.Mutation{put(n, f[2], f[3], "community/c1")}); err == nil {
					out <- "acked " + f[1]
				}
			}()
		case "shut":
			fs.shut()
		case "release":
			fs.release()
		case "held":
			for linlisync.InFlight(s) == 0 || fs.blocked.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			out <- "held"
		case "pull":
			page, err := s.Pull(context.Background(), []string{"community/c1"}, linlisync.Cursor{}, bigLimits)
			if err != nil {
				out <- "error " + err.Error()
				continue
			}
			line := "pulled"
			for _, c := range page.Changes {
				line += " " + c.EntityID + "=" + string(c.Value)
			}
			out <- line
		}
	}
}

// TestCrashBetweenApplyAndFsync kills a real process with SIGKILL while a
// group is applied and its fsync is held: every acknowledged mutation and
// everything a Pull showed is in the store after a restart, and the Pull
// showed nothing of the group whose fsync had not completed.
func TestCrashBetweenApplyAndFsync(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	say := func(cmd string) { io.WriteString(stdin, cmd+"\n") }
	expect := func(prefix string) string {
		t.Helper()
		select {
		case l := <-lines:
			if !strings.HasPrefix(l, prefix) {
				t.Fatalf("child said %q, want %q…", l, prefix)
			}
			return l
		case <-time.After(20 * time.Second):
			t.Fatalf("child did not say %q", prefix)
		}
		return ""
	}

	say("push 1 post/c1/p1 durable")
	expect("acked 1")
	say("shut")
	say("push 2 post/c1/p2 held")
	say("held")
	expect("held")
	say("pull")
	shown := expect("pulled")
	if shown != "pulled post/c1/p1=durable" {
		t.Fatalf("while the fsync was held, Pull showed %q", shown)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	select {
	case l, ok := <-lines:
		if ok && strings.HasPrefix(l, "acked") {
			t.Fatalf("a push was acknowledged while its fsync was held: %q", l)
		}
	default:
	}

	s := mustOpen(t, dir, linlisync.Options{})
	changes, _ := pullAll(t, s, []string{"community/c1"}, linlisync.Cursor{}, bigLimits)
	if got := view(changes); got["community/c1|post/c1/p1"] != "durable" {
		t.Fatalf("after the crash: %v; the acknowledged and shown p1 is lost", got)
	}
}

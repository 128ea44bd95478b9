package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// serverProcess is `linli serve` in a process of its own, so that what
// the server alone costs (its memory) can be read apart from the clients'.
type serverProcess struct {
	cmd      *exec.Cmd
	dir      string
	addr     string
	joinCode string // a resident code of community c1, building b3
	exited   chan error
}

// startServerProcess prepares a data folder (community c1, building b3 and
// a resident join code for members people) and runs command (the linli
// binary) serve on it, on a free port, without rate limits.
func startServerProcess(ctx context.Context, command []string, members int) (*serverProcess, error) {
	dir, err := os.MkdirTemp("", "linli-bench-server-")
	if err != nil {
		return nil, err
	}
	p := &serverProcess{dir: dir, exited: make(chan error, 1)}
	if p.joinCode, err = prepareServerFolder(ctx, dir, members); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	args := append(command[1:len(command):len(command)], "serve", "--data", dir, "--listen", "127.0.0.1:0",
		"--join-rate", "-1", "--refresh-rate", "-1", "--push-rate", "-1")
	p.cmd = exec.CommandContext(ctx, command[0], args...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	if err := p.cmd.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("start %s serve: %w", command[0], err), os.RemoveAll(dir))
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listeningAddr.FindSubmatch(sc.Bytes()); m != nil {
				select {
				case addr <- string(m[1]):
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() { p.exited <- p.cmd.Wait() }()
	select {
	case p.addr = <-addr:
		return p, nil
	case err := <-p.exited:
		return nil, errors.Join(fmt.Errorf("linli serve exited before listening: %v", err), os.RemoveAll(dir))
	case <-time.After(30 * time.Second):
		return nil, errors.Join(errors.New("linli serve did not say where it listens within 30 s"), p.stop())
	}
}

// listeningAddr finds the address in serve's "linli listening" log line,
// as text or JSON.
var listeningAddr = regexp.MustCompile(`linli listening.*?addr"?[=:]"?([0-9.]+:[0-9]+)`)

// prepareServerFolder creates the store a server will open: community c1,
// building b3, and a resident join code with enough uses.
func prepareServerFolder(ctx context.Context, dir string, members int) (string, error) {
	svc, err := mutualaid.Open(mutualaid.Config{Dir: filepath.Join(dir, "store"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return "", err
	}
	defer svc.Close()
	if _, err := svc.CreateCommunity(ctx, mutualaid.Operator, &linliv1.Community{Id: benchCommunity, Name: "Bench", District: "通州区", StreetOffice: "玉桥街道"}); err != nil {
		return "", err
	}
	if _, err := svc.PutBuilding(ctx, mutualaid.Operator, &linliv1.Building{Id: "b3", CommunityId: benchCommunity, Name: "3号楼", DropPoints: []string{"15楼电梯口窗台"}}); err != nil {
		return "", err
	}
	code, _, err := svc.CreateJoinCode(ctx, mutualaid.Operator, mutualaid.JoinCodeSpec{
		CommunityID: benchCommunity, BuildingID: "b3", Role: linliv1.Role_ROLE_RESIDENT,
		MaxUses: uint32(min(members+10, mutualaid.MaxJoinCodeUses)), ValidFor: 24 * time.Hour,
	})
	return code, err
}

// rss returns the server process's resident set size in bytes, once it has
// held still (three readings 250 ms apart within 1%), or after 5 s.
func (p *serverProcess) rss() (int64, error) {
	var last int64
	steady := 0
	for deadline := time.Now().Add(5 * time.Second); steady < 3 && time.Now().Before(deadline); {
		v, err := processRSS(p.cmd.Process.Pid)
		if err != nil {
			return 0, err
		}
		if last > 0 && v >= last*99/100 && v <= last*101/100 {
			steady++
		} else {
			steady = 0
		}
		last = v
		time.Sleep(250 * time.Millisecond)
	}
	return last, nil
}

// processRSS reads VmRSS of process pid.
func processRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:")); ok {
			kb, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte("kB")))), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc/<pid>/status")
}

// stop ends the server (SIGTERM, then SIGKILL after 10 s) and removes its
// folder.
func (p *serverProcess) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	return os.RemoveAll(p.dir)
}

// goMemory reads the server's Go heap and stack in use from /metrics.
func (p *serverProcess) goMemory(ctx context.Context) (heap, stack float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		for name, v := range map[string]*float64{"go_memstats_heap_inuse_bytes ": &heap, "go_memstats_stack_inuse_bytes ": &stack} {
			if rest, ok := strings.CutPrefix(line, name); ok {
				*v, _ = strconv.ParseFloat(strings.TrimSpace(rest), 64)
			}
		}
	}
	return heap, stack, sc.Err()
}

package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// maxFiles is the most files one response carries (the kernel's
// SCM_MAX_FD is 253).
const maxFiles = 250

// WithFiles is a Handler result that hands open files to the client along
// with Result: the server sends their descriptors with the response
// (SCM_RIGHTS) and closes its copies after sending. The daemon uses it to
// hand its listening sockets to a successor process.
type WithFiles struct {
	Result any
	Files  []*os.File
}

// writeResponse writes resp, with the descriptors of files when there are
// any, and closes files.
func writeResponse(c net.Conn, resp Response, files []*os.File) error {
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	out, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	out = append(out, '\n')
	if len(files) == 0 {
		_, err = c.Write(out)
		return err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return errors.New("sending files: not a unix socket connection")
	}
	if len(files) > maxFiles {
		return fmt.Errorf("sending files: %d files, at most %d go with one response", len(files), maxFiles)
	}
	fds := make([]int, len(files))
	for i, f := range files {
		// Not f.Fd(): that would put the socket, whose open file
		// description the daemon shares, in blocking mode.
		rc, err := f.SyscallConn()
		if err != nil {
			return fmt.Errorf("sending files: %w", err)
		}
		if err := rc.Control(func(fd uintptr) { fds[i] = int(fd) }); err != nil {
			return fmt.Errorf("sending files: %w", err)
		}
	}
	n, oobn, err := uc.WriteMsgUnix(out, unix.UnixRights(fds...), nil)
	if err != nil {
		return fmt.Errorf("sending files: %w", err)
	}
	if oobn == 0 {
		return errors.New("sending files: the descriptors were not sent")
	}
	if n < len(out) {
		_, err = c.Write(out[n:])
	}
	return err
}

// CallWithFiles is Call for a command whose result comes with open files
// (a WithFiles result): it returns them, in the order the server gave
// them; the caller owns them. A daemon busy with too many control
// connections is asked again, as by Call, within timeout.
func CallWithFiles(path string, req Request, out any, timeout time.Duration) ([]*os.File, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	reqLine, err := requestLine(req)
	if err != nil {
		return nil, err
	}
	var files []*os.File
	err = retryBusy(ctx, func() error {
		var err error
		files, err = callWithFilesOnce(ctx, path, reqLine, out)
		return err
	})
	return files, err
}

// callWithFilesOnce is one attempt of CallWithFiles, on one connection,
// until ctx's deadline.
func callWithFilesOnce(ctx context.Context, path string, reqLine []byte, out any) ([]*os.File, error) {
	c, done, err := sendRequest(ctx, path, reqLine)
	if err != nil {
		return nil, err
	}
	defer done()
	uc := c.(*net.UnixConn)
	var line bytes.Buffer
	var files []*os.File
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(maxFiles*4))
	for !bytes.HasSuffix(line.Bytes(), []byte("\n")) {
		n, oobn, flags, _, err := uc.ReadMsgUnix(buf, oob)
		if oobn > 0 {
			fs, perr := parseRights(oob[:oobn])
			files = append(files, fs...)
			if perr != nil {
				closeFiles(files)
				return nil, perr
			}
		}
		if flags&unix.MSG_CTRUNC != 0 {
			closeFiles(files)
			return nil, fmt.Errorf("reading response: more files than the %d a response carries", maxFiles)
		}
		line.Write(buf[:n])
		if err != nil {
			closeFiles(files)
			return nil, fmt.Errorf("reading response: %w", err)
		}
		if n == 0 {
			closeFiles(files)
			return nil, errors.New("reading response: connection closed")
		}
	}
	var resp Response
	if err := json.NewDecoder(bufio.NewReader(&line)).Decode(&resp); err != nil {
		closeFiles(files)
		return nil, fmt.Errorf("decoding response: %w", err)
	}
	if resp.Error != "" {
		closeFiles(files)
		return nil, &RefusedError{Message: resp.Error}
	}
	if out != nil {
		if err := json.Unmarshal(resp.Result, out); err != nil {
			closeFiles(files)
			return nil, fmt.Errorf("decoding result: %w", err)
		}
	}
	return files, nil
}

// parseRights turns the SCM_RIGHTS messages of oob into files.
func parseRights(oob []byte) ([]*os.File, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("reading files: %w", err)
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			unix.CloseOnExec(fd)
			files = append(files, os.NewFile(uintptr(fd), "handed-over"))
		}
	}
	return files, nil
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

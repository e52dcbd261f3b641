package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// multipartForm serves the GraphQL multipart request spec
// (https://github.com/jaydenseric/graphql-multipart-request-spec): an
// "operations" part, a "map" part naming which variables each file fills,
// then the files.
//
// It replaces gqlgen's transport.MultipartForm, which writes its failures
// itself, past the error presenter: bare messages without extensions.code,
// status 422 for a malformed request and 200 for one too large, messages
// that quote the request's map keys ("failed to get key %s from form"),
// and a map path that does not fit the variables (through a string, past
// the end of a list) panics in RawParams.AddUpload and answers 500
// INTERNAL. Rewriting its answers afterwards would mean buffering every
// response and guessing which ones are its own; checking the body in a
// middleware first would mean reading a body full of files twice. Owning
// these few lines of parsing is the simplest way to answer every failure
// alike: a GraphQL error with code BAD_USER_INPUT, passed through the error
// presenter, status 400 (413 when the body is over the limit), quoting
// nothing the client sent.
type multipartForm struct {
	maxBody   int64 // the whole request body, files included
	maxMemory int64 // file bytes held in memory per request; the rest spill to temporary files
}

var _ graphql.Transport = multipartForm{}

// Supports takes every POST whose media type is multipart/form-data, even
// one whose parameters (the boundary) do not parse: Do refuses those with a
// clear error instead of leaving gqlgen to answer "transport not supported".
func (multipartForm) Supports(r *http.Request) bool {
	if r.Header.Get("Upgrade") != "" || r.Method != http.MethodPost {
		return false
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "multipart/form-data"
}

// multipartError is a refused request: its status and a message that
// quotes nothing from the request.
type multipartError struct {
	status  int
	message string
	cause   error // set for the server's own failures, which are logged and shown as "internal error"
}

func badMultipart(format string, args ...any) *multipartError {
	return &multipartError{status: http.StatusBadRequest, message: fmt.Sprintf(format, args...)}
}

var errMultipartTooLarge = &multipartError{status: http.StatusRequestEntityTooLarge, message: "request body too large"}

// readFailed classifies an error reading the body: over the limit (413),
// or a body that is not well-formed multipart or ends early (400).
func readFailed(err error) *multipartError {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return errMultipartTooLarge
	}
	return badMultipart("the multipart body is malformed or truncated")
}

func (f multipartForm) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	w.Header().Set("Content-Type", "application/json")
	start := graphql.Now()
	if r.ContentLength > f.maxBody {
		f.fail(w, r, exec, errMultipartTooLarge)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, f.maxBody)
	defer r.Body.Close()
	files := &uploadSpool{memLeft: f.maxMemory}
	defer files.cleanup()

	params, ferr := f.read(r, files)
	if ferr != nil {
		f.fail(w, r, exec, ferr)
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	r = r.WithContext(withRedactor(r.Context(), func() []string {
		return appendStrings([]string{params.OperationName}, params.Variables)
	}))

	rc, gerr := exec.CreateOperationContext(r.Context(), params)
	if gerr != nil {
		resp := exec.DispatchError(graphql.WithOperationContext(r.Context(), rc), gerr)
		status := http.StatusOK
		if errcode.GetErrorKind(gerr) == errcode.KindProtocol {
			status = http.StatusUnprocessableEntity
		}
		writeResponse(w, status, resp)
		return
	}
	responses, ctx := exec.DispatchOperation(r.Context(), rc)
	writeResponse(w, http.StatusOK, responses(ctx))
}

// fail answers a refused request through the error presenter.
func (multipartForm) fail(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, e *multipartError) {
	gqlErr := &gqlerror.Error{Message: e.message, Extensions: map[string]any{"code": codeBadUserInput}}
	if e.cause != nil {
		gqlErr = &gqlerror.Error{Message: e.message, Err: e.cause} // the presenter logs it and shows "internal error"
	}
	writeResponse(w, e.status, exec.DispatchError(r.Context(), gqlerror.List{gqlErr}))
}

func writeResponse(w http.ResponseWriter, status int, resp *graphql.Response) {
	b, err := json.Marshal(resp)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"errors":[{"message":"internal error","extensions":{"code":"` + codeInternal + `"}}]}`)
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// read parses the operations, checks the map against their variables and
// puts each file in the variables the map names.
func (f multipartForm) read(r *http.Request, files *uploadSpool) (*graphql.RawParams, *multipartError) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, badMultipart("Content-Type must be multipart/form-data with a boundary")
	}
	part, err := mr.NextPart()
	if err != nil {
		return nil, readFailed(err)
	}
	if part.FormName() != "operations" {
		return nil, badMultipart(`the first part must be "operations"`)
	}
	var params graphql.RawParams
	if e := decodeField(part, &params, `"operations" must be a JSON object with "query" (a string) `+
		`and optionally "variables" (an object) and "operationName" (a string)`); e != nil {
		return nil, e
	}

	part, err = mr.NextPart()
	if err != nil {
		return nil, readFailed(err)
	}
	if part.FormName() != "map" {
		return nil, badMultipart(`the second part must be "map"`)
	}
	var fileMap map[string][]string
	if e := decodeField(part, &fileMap, `"map" must be a JSON object from file part names to lists of variable paths, `+
		`such as {"0": ["variables.file"]}`); e != nil {
		return nil, e
	}
	targets, e := uploadTargets(params.Variables, fileMap)
	if e != nil {
		return nil, e
	}

	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, readFailed(err)
		}
		setters, ok := targets[part.FormName()]
		if !ok {
			return nil, badMultipart(`every file part must be named in "map", once`)
		}
		delete(targets, part.FormName())
		open, size, e := files.save(part)
		if e != nil {
			return nil, e
		}
		for _, set := range setters {
			set(graphql.Upload{File: open(), Size: size, Filename: part.FileName(), ContentType: part.Header.Get("Content-Type")})
		}
	}
	if len(targets) > 0 {
		return nil, badMultipart(`"map" names a file part the request does not have`)
	}
	return &params, nil
}

// decodeField decodes one JSON form field of at most maxQueryBody bytes,
// refusing invalid UTF-8 (as the JSON transport does), a batch and
// anything after the value; a value that does not decode into v is
// refused with invalid.
func decodeField(part *multipart.Part, v any, invalid string) *multipartError {
	body, err := io.ReadAll(io.LimitReader(part, maxQueryBody+1))
	switch {
	case err != nil:
		return readFailed(err)
	case len(body) > maxQueryBody:
		return errMultipartTooLarge
	case !utf8.Valid(body):
		return badMultipart("the request is not valid UTF-8")
	case bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("[")) && part.FormName() == "operations":
		return badMultipart("batched operations are not supported: send one operation per request")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return badMultipart("%s", invalid)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badMultipart("%s", invalid)
	}
	return nil
}

// uploadTargets checks every path of the map ("variables.file",
// "variables.files.0") against the operation's variables: it must lead to
// a null placeholder, and be named once. It returns, per file part name,
// the setters that put a file in place.
func uploadTargets(vars map[string]any, fileMap map[string][]string) (map[string][]func(graphql.Upload), *multipartError) {
	targets := make(map[string][]func(graphql.Upload), len(fileMap))
	seen := map[string]bool{}
	for key, paths := range fileMap {
		if len(paths) == 0 {
			return nil, badMultipart(`every entry of "map" must list at least one variable path`)
		}
		for _, path := range paths {
			set, ok := uploadSetter(vars, path)
			if !ok || seen[path] {
				return nil, badMultipart(`every path in "map" must name a distinct null variable of the operation, such as "variables.file"`)
			}
			seen[path] = true
			targets[key] = append(targets[key], set)
		}
	}
	return targets, nil
}

// uploadSetter follows path through the variables (object keys and list
// indices) and returns a setter for the null value at its end; ok is false
// when the path leads nowhere or to a value.
func uploadSetter(vars map[string]any, path string) (set func(graphql.Upload), ok bool) {
	rest, ok := strings.CutPrefix(path, "variables.")
	if !ok {
		return nil, false
	}
	steps := strings.Split(rest, ".")
	var cur any = vars
	for i, step := range steps {
		last := i == len(steps)-1
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[step]
			if !ok {
				return nil, false
			}
			if last {
				return func(u graphql.Upload) { c[step] = u }, v == nil
			}
			cur = v
		case []any:
			n, err := strconv.Atoi(step)
			if err != nil || n < 0 || n >= len(c) {
				return nil, false
			}
			if last {
				return func(u graphql.Upload) { c[n] = u }, c[n] == nil
			}
			cur = c[n]
		default:
			return nil, false
		}
	}
	return nil, false
}

// uploadSpool holds the files of one request: in memory up to a budget,
// beyond it in temporary files removed when the request ends.
type uploadSpool struct {
	memLeft int64
	names   []string   // temporary files to remove
	open    []*os.File // handles to close
}

// save reads one file part and returns how to open a fresh reader on it
// (one per variable it fills) and its size.
func (s *uploadSpool) save(part *multipart.Part) (open func() io.ReadSeeker, size int64, e *multipartError) {
	var buf bytes.Buffer
	n, err := io.CopyN(&buf, part, s.memLeft+1)
	if err != nil && err != io.EOF {
		return nil, 0, readFailed(err)
	}
	if n <= s.memLeft {
		s.memLeft -= n
		data := buf.Bytes()
		return func() io.ReadSeeker { return bytes.NewReader(data) }, n, nil
	}
	internal := func(err error) *multipartError {
		return &multipartError{status: http.StatusInternalServerError, message: "internal error", cause: fmt.Errorf("spool upload: %w", err)}
	}
	tmp, err := os.CreateTemp("", "commerce-upload-")
	if err != nil {
		return nil, 0, internal(err)
	}
	// One handle per file, however many variables it fills: each gets its
	// own section reader on it.
	s.names = append(s.names, tmp.Name())
	s.open = append(s.open, tmp)
	size, err = io.Copy(tmp, io.MultiReader(&buf, part))
	if err != nil {
		if _, ok := errors.AsType[*os.PathError](err); ok {
			return nil, 0, internal(err) // the disk, not the client
		}
		return nil, 0, readFailed(err)
	}
	return func() io.ReadSeeker { return io.NewSectionReader(tmp, 0, size) }, size, nil
}

func (s *uploadSpool) cleanup() {
	for _, f := range s.open {
		_ = f.Close()
	}
	for _, name := range s.names {
		_ = os.Remove(name)
	}
}

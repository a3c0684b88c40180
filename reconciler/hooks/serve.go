package hooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// ServeHTTP handles one delivery: bound the body, authenticate it, then parse the event.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, r, http.StatusMethodNotAllowed, fmt.Errorf("%w: method %s", ErrMalformed, r.Method), "use POST")
		return
	}
	if r.ContentLength > h.maxBody {
		h.refuse(w, r, http.StatusRequestEntityTooLarge,
			fmt.Errorf("%w: Content-Length %d over %d bytes", ErrTooLarge, r.ContentLength, h.maxBody), "body too large")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.refuse(w, r, http.StatusRequestEntityTooLarge,
				fmt.Errorf("%w: over %d bytes", ErrTooLarge, h.maxBody), "body too large")
			return
		}
		h.refuse(w, r, http.StatusBadRequest, fmt.Errorf("%w: reading body: %v", ErrMalformed, err), "cannot read body")
		return
	}

	var provider Provider
	var event string
	switch {
	case r.Header.Get("X-GitHub-Event") != "":
		provider, event = GitHub, r.Header.Get("X-GitHub-Event")
		err = h.verifyGitHub(r.Header, body)
	case r.Header.Get("X-Gitlab-Event") != "":
		provider, event = GitLab, r.Header.Get("X-Gitlab-Event")
		err = h.verifyGitLab(r.Header, body)
	default:
		h.refuse(w, r, http.StatusBadRequest,
			fmt.Errorf("%w: no X-GitHub-Event or X-Gitlab-Event header", ErrMalformed),
			"expected a GitHub or GitLab webhook (X-GitHub-Event or X-Gitlab-Event header)")
		return
	}
	if err != nil {
		h.refuse(w, r, http.StatusUnauthorized, fmt.Errorf("%s: %w", provider, err), "authentication failed")
		return
	}

	switch {
	case provider == GitHub && event == "ping":
		writeJSON(w, http.StatusOK, reply{Status: "pong"})
		return
	case provider == GitHub && event == "push", provider == GitLab && event == "Push Hook":
	default:
		writeJSON(w, http.StatusAccepted, reply{Status: "ignored", Note: fmt.Sprintf("event %q is not a push", event)})
		return
	}

	if provider == GitHub && isForm(r.Header.Get("Content-Type")) {
		if body, err = formPayload(body); err != nil {
			h.refuse(w, r, http.StatusBadRequest, err, "malformed form payload")
			return
		}
	}
	ev, err := parsePush(provider, body)
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, err, "malformed push payload")
		return
	}
	ev.Delivery = deliveryID(provider, r.Header)
	if note := h.ignore(ev); note != "" {
		writeJSON(w, http.StatusAccepted, reply{Status: "ignored", Note: note, Branch: ev.Branch, After: ev.After})
		return
	}
	h.onPush(r.Context(), ev.PushEvent)
	writeJSON(w, http.StatusAccepted, reply{Status: "accepted", Branch: ev.Branch, After: ev.After})
}

// ignore returns why a parsed push does not concern the tracked branch, or "".
func (h *Handler) ignore(ev push) string {
	switch {
	case ev.Branch == "":
		return fmt.Sprintf("ref %q is not a branch", ev.ref)
	case ev.Branch != h.branch:
		return fmt.Sprintf("branch %q is not the tracked branch %q", ev.Branch, h.branch)
	case ev.deleted:
		return fmt.Sprintf("branch %q was deleted", ev.Branch)
	}
	return ""
}

func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, err error, msg string) {
	if h.onReject != nil {
		h.onReject(r, status, err)
	}
	writeJSON(w, status, reply{Status: "refused", Note: msg})
}

func writeJSON(w http.ResponseWriter, status int, v reply) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func deliveryID(p Provider, hd http.Header) string {
	var id string
	if p == GitHub {
		id = hd.Get("X-GitHub-Delivery")
	} else if id = hd.Get("X-Gitlab-Event-UUID"); id == "" {
		id = hd.Get("webhook-id")
	}
	if len(id) > 128 {
		id = id[:128]
	}
	return id
}

func isForm(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// formPayload extracts the JSON of a GitHub delivery sent as
// application/x-www-form-urlencoded (payload=<json>); the signature covers the form body.
func formPayload(body []byte) ([]byte, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("%w: form body: %v", ErrMalformed, err)
	}
	p := v.Get("payload")
	if strings.TrimSpace(p) == "" {
		return nil, fmt.Errorf("%w: form body has no payload field", ErrMalformed)
	}
	return []byte(p), nil
}

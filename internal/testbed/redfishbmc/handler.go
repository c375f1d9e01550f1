package redfishbmc

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Paths of the resources the BMC serves.
const (
	rootPath     = "/redfish/v1/"
	systemsPath  = "/redfish/v1/Systems"
	systemPath   = "/redfish/v1/Systems/1"
	resetPath    = "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset"
	sessSvcPath  = "/redfish/v1/SessionService"
	sessionsPath = "/redfish/v1/SessionService/Sessions"
)

// resetTypes are the ResetType values the host's system accepts: the power
// changes, and Nmi unless Config.NoNMI.
func (b *BMC) resetTypes() []string {
	types := []string{"On", "ForceOff", "GracefulShutdown", "ForceRestart"}
	if !b.cfg.NoNMI {
		types = append(types, "Nmi")
	}
	return types
}

// neighbourResetTypes are the ResetType values of Config.OtherSystems.
var neighbourResetTypes = []string{"On", "ForceOff", "GracefulShutdown", "ForceRestart"}

type link struct {
	ID string `json:"@odata.id"`
}

func (b *BMC) routes() http.Handler {
	mux := http.NewServeMux()
	open := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, h) }
	authed := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, b.auth(h)) }

	open("GET /redfish", b.getVersions)
	open("GET /redfish/v1", b.getRoot)
	open("GET /redfish/v1/odata", b.getODataService)
	open("POST "+sessionsPath, b.createSession)
	authed("GET "+systemsPath, b.getSystems)
	authed("GET "+systemPath, b.getSystem)
	authed("POST "+resetPath, b.postReset)
	authed("GET "+systemsPath+"/{id}", b.getOtherSystem)
	authed("POST "+systemsPath+"/{id}/Actions/ComputerSystem.Reset", b.postOtherReset)
	authed("GET "+sessSvcPath, b.getSessionService)
	authed("GET "+sessionsPath, b.getSessions)
	authed("GET "+sessionsPath+"/{id}", b.getSession)
	authed("DELETE "+sessionsPath+"/{id}", b.deleteSession)
	if !b.cfg.NoAccountService {
		authed("GET "+acctSvcPath, b.getAccountService)
		authed("GET "+accountsPath, b.getAccounts)
		authed("GET "+accountsPath+"/{id}", b.getAccount)
		authed("GET "+rolesPath, b.getRoles)
		authed("GET "+rolesPath+"/{id}", b.getRole)
	}
	open("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Base.1.8.ResourceMissingAtURI", "no resource at "+r.URL.Path)
	})

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b.hang(w, r) {
			return
		}
		// DSP0266: a URI with and without a trailing slash name the same resource.
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			r2 := r.Clone(r.Context())
			r2.URL.Path = strings.TrimRight(p, "/")
			r = r2
		}
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		w.Header().Set("OData-Version", "4.0")
		mux.ServeHTTP(rec, r)
		b.log.Debug("redfish request", "method", r.Method, "path", r.URL.Path, "status", rec.code)
	})
}

// statusRecorder remembers the status code for the request log.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// auth admits a request with the right basic-auth credentials or a live
// session token.
func (b *BMC) auth(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.Header.Get("X-Auth-Token"); tok != "" {
			b.mu.Lock()
			_, ok := b.sessions[tok]
			b.mu.Unlock()
			if ok {
				h(w, r)
				return
			}
		} else if u, p, ok := r.BasicAuth(); ok && b.credentialsOK(u, p) {
			h(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="vigil test BMC"`)
		writeError(w, http.StatusUnauthorized, "Base.1.8.NoValidSession", "authentication required")
	})
}

func (b *BMC) credentialsOK(user, pass string) bool {
	u := subtle.ConstantTimeCompare([]byte(user), []byte(b.cfg.Username))
	p := subtle.ConstantTimeCompare([]byte(pass), []byte(b.cfg.Password))
	return u&p == 1
}

func (b *BMC) getVersions(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"v1": rootPath})
}

func (b *BMC) getRoot(w http.ResponseWriter, _ *http.Request) {
	root := map[string]any{
		"@odata.type":    "#ServiceRoot.v1_11_0.ServiceRoot",
		"@odata.id":      rootPath,
		"Id":             "RootService",
		"Name":           "vigil test BMC",
		"RedfishVersion": "1.15.0",
		"UUID":           "6c3a4f5e-0b1d-4c55-9d3e-7669676c0001",
		"Systems":        link{systemsPath},
		"SessionService": link{sessSvcPath},
		"Links":          map[string]any{"Sessions": link{sessionsPath}},
	}
	if !b.cfg.NoAccountService {
		root["AccountService"] = link{acctSvcPath}
	}
	writeJSON(w, http.StatusOK, root)
}

func (b *BMC) getODataService(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.context": "/redfish/v1/$metadata",
		"value": []map[string]string{
			{"name": "Service", "kind": "Singleton", "url": rootPath},
			{"name": "Systems", "kind": "Singleton", "url": systemsPath},
			{"name": "SessionService", "kind": "Singleton", "url": sessSvcPath},
		},
	})
}

func (b *BMC) getSystems(w http.ResponseWriter, _ *http.Request) {
	var members []link
	for _, id := range b.cfg.OtherSystems {
		members = append(members, link{systemsPath + "/" + id})
	}
	members = append(members, link{systemPath})
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.type":         "#ComputerSystemCollection.ComputerSystemCollection",
		"@odata.id":           systemsPath,
		"Name":                "Computer System Collection",
		"Members@odata.count": len(members),
		"Members":             members,
	})
}

// getOtherSystem serves one of Config.OtherSystems: always truthful, never
// settling.
func (b *BMC) getOtherSystem(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	on, ok := b.SystemPoweredOn(id)
	if !ok {
		writeError(w, http.StatusNotFound, "Base.1.8.ResourceMissingAtURI", "no system "+id)
		return
	}
	state := map[bool]string{true: "On", false: "Off"}[on]
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.type": "#ComputerSystem.v1_20_0.ComputerSystem",
		"@odata.id":   systemsPath + "/" + id,
		"Id":          id,
		"Name":        "vigil test neighbour " + id,
		"SystemType":  "Physical",
		"PowerState":  state,
		"Status":      map[string]string{"State": "Enabled", "Health": "OK"},
		"Actions": map[string]any{
			"#ComputerSystem.Reset": map[string]any{
				"target":                            systemsPath + "/" + id + "/Actions/ComputerSystem.Reset",
				"ResetType@Redfish.AllowableValues": neighbourResetTypes,
			},
		},
	})
}

// insufficient answers a reset by a role without ConfigureComponents, as
// the DMTF privilege registry requires for ComputerSystem POST.
func (b *BMC) insufficient(w http.ResponseWriter) bool {
	if b.may(privConfigureComponents) {
		return false
	}
	writeError(w, http.StatusForbidden, "Base.1.8.InsufficientPrivilege",
		"role "+b.role()+" lacks ConfigureComponents, which ComputerSystem.Reset needs")
	return true
}

func (b *BMC) postOtherReset(w http.ResponseWriter, r *http.Request) {
	if b.insufficient(w) {
		return
	}
	id := r.PathValue("id")
	var body struct{ ResetType string }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "Base.1.8.MalformedJSON", "request body is not valid JSON")
		return
	}
	b.mu.Lock()
	_, ok := b.others[id]
	switch {
	case !ok:
	case body.ResetType == "On":
		b.others[id] = true
	case body.ResetType == "ForceOff" || body.ResetType == "GracefulShutdown":
		b.others[id] = false
	}
	b.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "Base.1.8.ResourceMissingAtURI", "no system "+id)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// etag is the system's entity tag: it changes whenever PowerState does.
func etag(powerState string) string { return `"power-` + powerState + `"` }

func (b *BMC) getSystem(w http.ResponseWriter, _ *http.Request) {
	state := b.reportedState(time.Now())
	w.Header().Set("ETag", etag(state))
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.type": "#ComputerSystem.v1_20_0.ComputerSystem",
		"@odata.id":   systemPath,
		"Id":          "1",
		"Name":        "vigil test host",
		"SystemType":  "Physical",
		"PowerState":  state,
		"Status":      map[string]string{"State": "Enabled", "Health": "OK"},
		"Actions": map[string]any{
			"#ComputerSystem.Reset": map[string]any{
				"target":                            resetPath,
				"ResetType@Redfish.AllowableValues": b.resetTypes(),
			},
		},
	})
}

func (b *BMC) postReset(w http.ResponseWriter, r *http.Request) {
	if b.insufficient(w) {
		return
	}
	// A client that sends the ETag of an earlier read gets 412 once the state
	// has moved on, as some BMCs do.
	if m := r.Header.Get("If-Match"); m != "" && m != "*" && m != etag(b.reportedState(time.Now())) {
		writeError(w, http.StatusPreconditionFailed, "Base.1.8.PreconditionFailed", "the ETag does not match the system")
		return
	}
	var body struct {
		ResetType *string
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "Base.1.8.MalformedJSON", "request body is not valid JSON")
		return
	}
	if body.ResetType == nil {
		// DSP0268: without ResetType the service performs its default, "On".
		on := "On"
		body.ResetType = &on
	}
	if !slices.Contains(b.resetTypes(), *body.ResetType) {
		writeError(w, http.StatusBadRequest, "Base.1.8.ActionParameterValueNotInList",
			"ResetType "+strconv.Quote(*body.ResetType)+" is not supported")
		return
	}
	var refused errRefused
	switch err := b.reset(*body.ResetType); {
	case errors.As(err, &refused):
		writeError(w, refused.code, "Base.1.8.ActionNotSupported", "the BMC refuses resets")
	case err != nil:
		writeError(w, http.StatusInternalServerError, "Base.1.8.InternalError", "the reset failed")
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (b *BMC) getSessionService(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.type":    "#SessionService.v1_1_8.SessionService",
		"@odata.id":      sessSvcPath,
		"Id":             "SessionService",
		"Name":           "Session Service",
		"ServiceEnabled": true,
		"SessionTimeout": 1800,
		"Sessions":       link{sessionsPath},
	})
}

func (b *BMC) getSessions(w http.ResponseWriter, _ *http.Request) {
	b.mu.Lock()
	members := []link{}
	for _, id := range b.sessions {
		members = append(members, link{sessionsPath + "/" + id})
	}
	b.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.type":         "#SessionCollection.SessionCollection",
		"@odata.id":           sessionsPath,
		"Name":                "Session Collection",
		"Members@odata.count": len(members),
		"Members":             members,
	})
}

// createSession is open to everyone (DSP0266): the credentials are in the body.
func (b *BMC) createSession(w http.ResponseWriter, r *http.Request) {
	var body struct {
		UserName string
		Password string
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "Base.1.8.MalformedJSON", "request body is not valid JSON")
		return
	}
	if !b.credentialsOK(body.UserName, body.Password) {
		writeError(w, http.StatusUnauthorized, "Base.1.8.NoValidSession", "authentication failed")
		return
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		writeError(w, http.StatusInternalServerError, "Base.1.8.InternalError", "no randomness")
		return
	}
	token := hex.EncodeToString(raw[:])
	b.mu.Lock()
	b.nextSess++
	id := strconv.Itoa(b.nextSess)
	b.sessions[token] = id
	b.mu.Unlock()
	w.Header().Set("X-Auth-Token", token)
	w.Header().Set("Location", sessionsPath+"/"+id)
	writeJSON(w, http.StatusCreated, sessionBody(id, body.UserName))
}

func (b *BMC) getSession(w http.ResponseWriter, r *http.Request) {
	if _, ok := b.sessionToken(r.PathValue("id")); !ok {
		writeError(w, http.StatusNotFound, "Base.1.8.ResourceMissingAtURI", "no such session")
		return
	}
	writeJSON(w, http.StatusOK, sessionBody(r.PathValue("id"), b.cfg.Username))
}

func (b *BMC) deleteSession(w http.ResponseWriter, r *http.Request) {
	tok, ok := b.sessionToken(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "Base.1.8.ResourceMissingAtURI", "no such session")
		return
	}
	b.mu.Lock()
	delete(b.sessions, tok)
	b.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (b *BMC) sessionToken(id string) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for tok, sid := range b.sessions {
		if sid == id {
			return tok, true
		}
	}
	return "", false
}

func sessionBody(id, user string) map[string]any {
	return map[string]any{
		"@odata.type": "#Session.v1_7_0.Session",
		"@odata.id":   sessionsPath + "/" + id,
		"Id":          id,
		"Name":        "User Session",
		"UserName":    user,
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with a Redfish error body (DSP0266 "Error responses").
func writeError(w http.ResponseWriter, code int, messageID, message string) {
	writeJSON(w, code, map[string]any{
		"error": map[string]any{
			"code":    messageID,
			"message": message,
			"@Message.ExtendedInfo": []map[string]string{{
				"@odata.type": "#Message.v1_1_1.Message",
				"MessageId":   messageID,
				"Message":     message,
				"Severity":    "Critical",
			}},
		},
	})
}

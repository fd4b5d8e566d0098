package sim

import (
	"fmt"
	"net/http"
)

// APIs a Fault can target.
const (
	APIPartnerCenter = "partnercenter"
	APIGraph         = "graph"
	APIToken         = "token"
)

// Fault kinds.
const (
	FaultThrottle = "throttle" // 429 with Retry-After
	Fault5xx      = "5xx"      // 503, which the Graph SDK and most clients retry
)

// Fault makes the next Count requests to API fail the way Microsoft's services fail under load.
type Fault struct {
	API   string `json:"api"`
	Kind  string `json:"kind"`
	Count int    `json:"count"`
	// RetryAfter is sent verbatim in the Retry-After header: Graph uses fractional seconds
	// ("2.128"), Partner Center whole seconds ("57"). Empty sends no header, except that
	// Partner Center's throttling always names a delay (1 second by default).
	RetryAfter string `json:"retryAfter,omitempty"`
}

func (f Fault) validate() error {
	switch f.API {
	case APIPartnerCenter, APIGraph, APIToken:
	default:
		return fmt.Errorf("fault api %q is not one of %q, %q, %q", f.API, APIPartnerCenter, APIGraph, APIToken)
	}
	if f.Kind != FaultThrottle && f.Kind != Fault5xx {
		return fmt.Errorf("fault kind %q is not %q or %q", f.Kind, FaultThrottle, Fault5xx)
	}
	if f.Count < 0 {
		return fmt.Errorf("fault count %d is negative", f.Count)
	}
	return nil
}

// SetFault arms f for its API, replacing any fault still pending there; Count 0 disarms it.
// An invalid fault (see the API and kind constants) is ignored, since it could never match.
func (s *Server) SetFault(f Fault) {
	if f.validate() != nil {
		s.log.Warn("ignoring invalid fault", "fault", f)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Count == 0 {
		delete(s.faults, f.API)
		return
	}
	s.faults[f.API] = f
}

// injectFault answers the request with the pending fault for api, if any, and reports whether
// it did.
func (s *Server) injectFault(w http.ResponseWriter, r *http.Request, api string) bool {
	s.mu.Lock()
	f, ok := s.faults[api]
	if ok {
		if f.Count--; f.Count == 0 {
			delete(s.faults, api)
		} else {
			s.faults[api] = f
		}
		s.stats.FaultsInjected++
	}
	s.mu.Unlock()
	if !ok {
		return false
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	throttle := f.Kind == FaultThrottle
	switch api {
	case APIGraph:
		if throttle {
			s.writeGraphError(w, http.StatusTooManyRequests, "TooManyRequests", "Too many requests are being sent. Retry after the period in the Retry-After header.")
		} else {
			s.writeGraphError(w, http.StatusServiceUnavailable, "serviceNotAvailable", "The service is temporarily unavailable for maintenance or is overloaded. You may repeat the request after a delay, which may be specified in a Retry-After header.")
		}
	case APIPartnerCenter:
		if throttle {
			writePCThrottled(w, orDefault(f.RetryAfter, "1"))
		} else {
			writePCError(w, http.StatusServiceUnavailable, pcUnexpectedError, "Unexpected service error: the service is temporarily unavailable. Retry the request.")
		}
	case APIToken:
		if throttle {
			s.writeAAD(w, r, newAAD(http.StatusTooManyRequests, "temporarily_unavailable", 90055, "The request was throttled because too many requests were sent. Try again later."))
		} else {
			s.writeAAD(w, r, newAAD(http.StatusServiceUnavailable, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again."))
		}
	}
	return true
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

package envoysim

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	mutationrulesv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	"google.golang.org/protobuf/proto"
)

// defaultMessageTimeout is Envoy's ext_proc message_timeout default.
const defaultMessageTimeout = 200 * time.Millisecond

// ExtProc is the digest of the ext_proc filter configuration.
type ExtProc struct {
	// ClusterName is the envoy_grpc cluster of the processor.
	ClusterName string
	// StreamTimeout is grpc_service.timeout, applied as the stream deadline.
	StreamTimeout     time.Duration
	FailureModeAllow  bool
	MessageTimeout    time.Duration
	MaxMessageTimeout time.Duration
	AllowModeOverride bool
	// AllowedOverrideModes, when non-empty, lists the only accepted overrides.
	AllowedOverrideModes []*extprocfilterv3.ProcessingMode
	// Mode is the configured processing mode (unset fields keep Envoy's defaults).
	Mode                     *extprocfilterv3.ProcessingMode
	StatusOnError            int
	ReceivingNamespaces      []string
	DisableImmediateResponse bool
	RouteCacheAction         extprocfilterv3.ExternalProcessor_RouteCacheAction

	rules *mutationRules
	// Proto is the parsed filter config, for tests.
	Proto *extprocfilterv3.ExternalProcessor
}

func digestExtProc(m *extprocfilterv3.ExternalProcessor) (*ExtProc, error) {
	if err := rejectUnemulatedExtProc(m); err != nil {
		return nil, err
	}
	gs := m.GetGrpcService()
	if gs.GetEnvoyGrpc() == nil {
		return nil, errors.New("grpc_service.envoy_grpc is required (google_grpc / http_service are not emulated)")
	}
	out := &ExtProc{
		ClusterName:              gs.GetEnvoyGrpc().GetClusterName(),
		StreamTimeout:            durationOr(gs.GetTimeout(), 0),
		FailureModeAllow:         m.GetFailureModeAllow(),
		MessageTimeout:           durationOr(m.GetMessageTimeout(), defaultMessageTimeout),
		MaxMessageTimeout:        durationOr(m.GetMaxMessageTimeout(), 0),
		AllowModeOverride:        m.GetAllowModeOverride(),
		AllowedOverrideModes:     m.GetAllowedOverrideModes(),
		Mode:                     &extprocfilterv3.ProcessingMode{},
		StatusOnError:            500,
		ReceivingNamespaces:      m.GetMetadataOptions().GetReceivingNamespaces().GetUntyped(),
		DisableImmediateResponse: m.GetDisableImmediateResponse(),
		RouteCacheAction:         m.GetRouteCacheAction(),
		Proto:                    m,
	}
	if m.GetProcessingMode() != nil {
		out.Mode = proto.Clone(m.GetProcessingMode()).(*extprocfilterv3.ProcessingMode)
	}
	if err := checkModeEmulated(out.Mode); err != nil {
		return nil, err
	}
	if s := m.GetStatusOnError(); s != nil {
		out.StatusOnError = int(s.GetCode())
	}
	if m.GetDisableClearRouteCache() {
		out.RouteCacheAction = extprocfilterv3.ExternalProcessor_RETAIN
	}
	rules, err := compileMutationRules(m.GetMutationRules())
	if err != nil {
		return nil, fmt.Errorf("mutation_rules: %w", err)
	}
	out.rules = rules
	return out, nil
}

// rejectUnemulatedExtProc refuses settings whose behaviour the stand-in does
// not reproduce; accepting them silently would let tests pass against an
// Envoy that does not exist.
func rejectUnemulatedExtProc(m *extprocfilterv3.ExternalProcessor) error {
	var bad []string
	check := func(set bool, name string) {
		if set {
			bad = append(bad, name)
		}
	}
	check(m.GetHttpService() != nil, "http_service")
	check(m.GetObservabilityMode(), "observability_mode")
	check(m.GetSendBodyWithoutWaitingForHeaderResponse(), "send_body_without_waiting_for_header_response")
	check(len(m.GetRequestAttributes()) > 0 || len(m.GetResponseAttributes()) > 0, "request/response_attributes")
	check(m.GetForwardRules() != nil, "forward_rules")
	check(m.GetProcessingRequestModifier() != nil, "processing_request_modifier")
	check(m.GetOnProcessingResponse() != nil, "on_processing_response")
	check(len(m.GetMetadataOptions().GetForwardingNamespaces().GetUntyped()) > 0 ||
		len(m.GetMetadataOptions().GetForwardingNamespaces().GetTyped()) > 0, "metadata_options.forwarding_namespaces")
	if len(bad) > 0 {
		return fmt.Errorf("ext_proc settings not emulated: %v", bad)
	}
	return nil
}

func checkModeEmulated(m *extprocfilterv3.ProcessingMode) error {
	for _, b := range []extprocfilterv3.ProcessingMode_BodySendMode{m.GetRequestBodyMode(), m.GetResponseBodyMode()} {
		if b == extprocfilterv3.ProcessingMode_FULL_DUPLEX_STREAMED || b == extprocfilterv3.ProcessingMode_GRPC {
			return fmt.Errorf("body mode %s is not emulated", b)
		}
	}
	return nil
}

// mutationRules is HeaderMutationRules compiled for the checker.
type mutationRules struct {
	allowAllRouting, allowEnvoy, disallowSystem, disallowAll, disallowIsError bool
	allowExpr, disallowExpr                                                   *regexp.Regexp
}

func compileMutationRules(r *mutationrulesv3.HeaderMutationRules) (*mutationRules, error) {
	out := &mutationRules{
		allowAllRouting: r.GetAllowAllRouting().GetValue(),
		allowEnvoy:      r.GetAllowEnvoy().GetValue(),
		disallowSystem:  r.GetDisallowSystem().GetValue(),
		disallowAll:     r.GetDisallowAll().GetValue(),
		disallowIsError: r.GetDisallowIsError().GetValue(),
	}
	var err error
	if e := r.GetAllowExpression(); e != nil {
		if out.allowExpr, err = fullMatchRegexp(e.GetRegex()); err != nil {
			return nil, fmt.Errorf("allow_expression: %w", err)
		}
	}
	if e := r.GetDisallowExpression(); e != nil {
		if out.disallowExpr, err = fullMatchRegexp(e.GetRegex()); err != nil {
			return nil, fmt.Errorf("disallow_expression: %w", err)
		}
	}
	return out, nil
}

// fullMatchRegexp compiles an RE2 expression with Envoy's whole-string
// matching semantics.
func fullMatchRegexp(expr string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(`^(?:` + expr + `)$`)
	if err != nil {
		return nil, fmt.Errorf("compile %q: %w", expr, err)
	}
	return re, nil
}

package envoysim

import (
	"errors"
	"fmt"
	"regexp"

	"google.golang.org/protobuf/types/known/structpb"
)

// operatorRE matches %NAME%, %NAME(arg)% and %NAME(arg):N%.
var operatorRE = regexp.MustCompile(`%([A-Z][A-Z0-9_]*)(\(([^)]*)\))?(:([0-9]+))?%`)

// knownOperators are Envoy's access log command operators. Names outside
// this set make LoadConfig fail, as they make Envoy refuse the config; the
// stand-in renders those it does not record as absent.
var knownOperators = map[string]bool{
	"START_TIME": true, "EMIT_TIME": true, "REQUEST_DURATION": true, "REQUEST_TX_DURATION": true,
	"RESPONSE_DURATION": true, "RESPONSE_TX_DURATION": true, "DURATION": true, "COMMON_DURATION": true,
	"BYTES_RECEIVED": true, "BYTES_SENT": true, "UPSTREAM_WIRE_BYTES_SENT": true, "UPSTREAM_WIRE_BYTES_RECEIVED": true,
	"DOWNSTREAM_WIRE_BYTES_SENT": true, "DOWNSTREAM_WIRE_BYTES_RECEIVED": true,
	"PROTOCOL": true, "UPSTREAM_PROTOCOL": true, "RESPONSE_CODE": true, "RESPONSE_CODE_DETAILS": true,
	"CONNECTION_TERMINATION_DETAILS": true, "RESPONSE_FLAGS": true, "RESPONSE_FLAGS_LONG": true,
	"ROUTE_NAME": true, "VIRTUAL_CLUSTER_NAME": true, "UPSTREAM_HOST": true, "UPSTREAM_HOST_NAME": true,
	"UPSTREAM_CLUSTER": true, "UPSTREAM_CLUSTER_RAW": true, "UPSTREAM_LOCAL_ADDRESS": true,
	"UPSTREAM_REMOTE_ADDRESS": true, "UPSTREAM_TRANSPORT_FAILURE_REASON": true,
	"UPSTREAM_REQUEST_ATTEMPT_COUNT": true, "UPSTREAM_CONNECTION_ID": true,
	"DOWNSTREAM_REMOTE_ADDRESS": true, "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT": true,
	"DOWNSTREAM_REMOTE_PORT": true, "DOWNSTREAM_DIRECT_REMOTE_ADDRESS": true,
	"DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT": true, "DOWNSTREAM_LOCAL_ADDRESS": true,
	"DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT": true, "DOWNSTREAM_LOCAL_PORT": true,
	"CONNECTION_ID": true, "REQ": true, "RESP": true, "TRAILER": true, "REQ_WITHOUT_QUERY": true,
	"DYNAMIC_METADATA": true, "CLUSTER_METADATA": true, "UPSTREAM_METADATA": true, "METADATA": true,
	"FILTER_STATE": true, "UPSTREAM_FILTER_STATE": true, "HOSTNAME": true, "REQUESTED_SERVER_NAME": true,
	"STREAM_ID": true, "UNIQUE_ID": true, "TRACE_ID": true, "LOCAL_REPLY_BODY": true,
	"ACCESS_LOG_TYPE": true, "ENVIRONMENT": true, "CEL": true, "SYSTEM_TIME": true,
}

func checkOperators(tmpl string) error {
	var errs []error
	for _, m := range operatorRE.FindAllStringSubmatch(tmpl, -1) {
		if !knownOperators[m[1]] {
			errs = append(errs, fmt.Errorf("unknown access log operator %%%s%%", m[1]))
		}
		if (m[1] == "REQ" || m[1] == "RESP" || m[1] == "DYNAMIC_METADATA") && m[3] == "" {
			errs = append(errs, fmt.Errorf("%%%s%% needs an argument", m[1]))
		}
	}
	return errors.Join(errs...)
}

func checkJSONOperators(s *structpb.Struct) error {
	var errs []error
	for _, v := range s.GetFields() {
		switch x := v.GetKind().(type) {
		case *structpb.Value_StringValue:
			errs = append(errs, checkOperators(x.StringValue))
		case *structpb.Value_StructValue:
			errs = append(errs, checkJSONOperators(x.StructValue))
		}
	}
	return errors.Join(errs...)
}

package schema

import (
	"encoding/base64"
	"errors"
	"regexp"

	"k8s.io/kube-openapi/pkg/validation/strfmt"
)

var isoDurationRe = regexp.MustCompile(`^P(?:\d+W|(?:\d+Y)?(?:\d+M)?(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?)$`)

// validateDuration accepts what the API server accepts for format
// "duration" (Go durations like 1h30m, as kube-openapi parses them) and,
// like kubeconform, ISO 8601 durations.
func validateDuration(v any) error {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	if _, err := strfmt.ParseDuration(s); err == nil {
		return nil
	}
	if len(s) > 1 && s[len(s)-1] != 'T' && isoDurationRe.MatchString(s) {
		return nil
	}
	return errors.New("not a duration (want Go syntax like 1h30m or ISO 8601 like PT1H30M)")
}

// validateBase64 checks format "byte" (Secret data, ConfigMap binaryData):
// the API server rejects values that are not standard base64.
func validateBase64(v any) error {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	if _, err := base64.StdEncoding.DecodeString(s); err != nil {
		return errors.New("not valid base64 (Secret data must be base64-encoded; use stringData for plain text)")
	}
	return nil
}

package validation

import (
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Error details shared by several rules; the wording is the API server's so
// messages read the same as `kubectl apply` would print them.
const (
	detailNegative       = apivalidation.IsNegativeErrorMsg
	detailNotPositive    = "must be greater than zero"
	detailFileMode       = "must be a number between 0 and 0777 (octal), both inclusive"
	detailEmptyDirMode   = "must be a number between 0 and 01777 (octal), both inclusive"
	detailMoreThanOneVol = "may not specify more than 1 volume type"
	detailOneHandler     = "may not specify more than 1 handler type"
)

func validateDNSLabel(value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(value) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

func validateDNSSubdomain(value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(value) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

// validateObjectName checks a reference to another object's name, which
// must be a DNS subdomain; prefix relaxes a trailing dash as for generateName.
func validateObjectName(name string, prefix bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range apivalidation.NameIsDNSSubdomain(name, prefix) {
		errs = append(errs, field.Invalid(fldPath, name, msg))
	}
	return errs
}

func validateQualifiedName(value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range content.IsLabelKey(value) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

func validateNonNegative(value int64, fldPath *field.Path) field.ErrorList {
	if value < 0 {
		return field.ErrorList{field.Invalid(fldPath, value, detailNegative)}
	}
	return nil
}

func validatePositive(value int64, fldPath *field.Path) field.ErrorList {
	if value <= 0 {
		return field.ErrorList{field.Invalid(fldPath, value, detailNotPositive)}
	}
	return nil
}

func validateUserID(id *int64, fldPath *field.Path) field.ErrorList {
	return validateID(id, fldPath, validation.IsValidUserID)
}

func validateGroupID(id *int64, fldPath *field.Path) field.ErrorList {
	return validateID(id, fldPath, validation.IsValidGroupID)
}

// validateID applies one of apimachinery's user or group ID checks to an
// optional ID.
func validateID(id *int64, fldPath *field.Path, check func(int64) []string) field.ErrorList {
	if id == nil {
		return nil
	}
	var errs field.ErrorList
	for _, msg := range check(*id) {
		errs = append(errs, field.Invalid(fldPath, *id, msg))
	}
	return errs
}

func validateFileMode(mode *int32, fldPath *field.Path) field.ErrorList {
	if mode != nil && (*mode < 0 || *mode > 0o777) {
		return field.ErrorList{field.Invalid(fldPath, *mode, detailFileMode)}
	}
	return nil
}

// validatePathNoBacksteps rejects any ".." element between slashes.
func validatePathNoBacksteps(target string, fldPath *field.Path) field.ErrorList {
	for _, part := range strings.Split(target, "/") {
		if part == ".." {
			return field.ErrorList{field.Invalid(fldPath, target, "must not contain '..'")}
		}
	}
	return nil
}

// validateLocalDescendingPath requires a relative path that stays below its
// base directory.
func validateLocalDescendingPath(target string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(target) {
		errs = append(errs, field.Invalid(fldPath, target, "must be a relative path"))
	}
	return append(errs, validatePathNoBacksteps(target, fldPath)...)
}

// validateLocalNonReservedPath is validateLocalDescendingPath that also
// refuses names starting with "..", which the kubelet's atomic writer uses.
func validateLocalNonReservedPath(target string, fldPath *field.Path) field.ErrorList {
	errs := validateLocalDescendingPath(target, fldPath)
	if strings.HasPrefix(target, "..") && !strings.HasPrefix(target, "../") {
		errs = append(errs, field.Invalid(fldPath, target, "must not start with '..'"))
	}
	return errs
}

// oneOf counts the members of a union that are set and reports every member
// after the first as Forbidden; validate runs only for the first. Member
// paths are built only when the member is set, as most are not.
type oneOf struct {
	base   *field.Path
	detail string
	set    int
	errs   field.ErrorList
}

func (o *oneOf) member(isSet bool, name string, validate func(*field.Path) field.ErrorList) {
	if !isSet {
		return
	}
	o.set++
	if o.set > 1 {
		o.errs = append(o.errs, field.Forbidden(o.base.Child(name), o.detail))
		return
	}
	o.errs = append(o.errs, validate(o.base.Child(name))...)
}

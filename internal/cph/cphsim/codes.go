package cphsim

// Error codes and messages the simulator answers with. The CPS and APIGW codes come from
// docs/cph-api.md; the ones marked "sim" are not documented there and were chosen to look like
// the real ones. Keep them here so that a code learnt from the real API is one line to change.
const (
	codeNoPermission  = "CPS.0001"
	codeInternal      = "CPS.0003"
	codeInvalidParam  = "CPS.0005" // sim: generic invalid parameter / malformed body
	codeInvalidCount  = "CPS.0024"
	codeInvalidFlavor = "CPS.0028"
	codeInvalidImage  = "CPS.0030"
	codeInvalidBW     = "CPS.0031"
	codeNotFound      = "CPS.0015" // sim: server not found
	codeNoSuchOrder   = "CBC.0100" // sim: BSS, order not found

	codeNoSuchAPI      = "APIGW.0101" // sim: unknown route
	codeBackendDown    = "APIGW.0201" // sim: 503 before commit
	codeBackendTimeout = "APIGW.0202" // sim: 504 after a hang, and of a late commit
	codeAuth           = "APIGW.0301"
	codeThrottled      = "APIGW.0308"

	codeIAMBadBody = "IAM.0011" // as IAM documents for an invalid request body
	codeIAMBadCred = "IAM.0004" // sim: wrong user, password or domain

	msgThrottled      = "The throttling threshold has been reached"
	msgBackendTimeout = "The backend service timed out"
	msgAuthPfx        = "Incorrect IAM authentication information: "
)

// rejectMessage explains a code a FaultReject may carry.
func rejectMessage(code string) string {
	switch code {
	case "CPS.0001":
		return "No permission to perform this operation"
	case "CPS.0006":
		return "The account is in arrears"
	case "CPS.0007":
		return "The account is frozen"
	case "CPS.0008":
		return "Real-name verification has not been completed"
	}
	return "The request was rejected"
}

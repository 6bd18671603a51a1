package callback

import (
	"errors"
	"net/http"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

var errMethodNotAllowed = errors.New("only GET and POST are accepted")

// errorBody is the JSON of a refused call: the marketplace logs it, so it
// says what was wrong in words and in a stable code.
type errorBody struct {
	Success   bool   `json:"success"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	Parameter string `json:"parameter,omitempty"`
}

// errorAnswer is the one place that maps an error to its HTTP status and
// body. Anything unknown is a 500, so the marketplace calls again.
func errorAnswer(err error) (int, errorBody) {
	var param *marketplace.ParamError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.Is(err, marketplace.ErrMissingToken):
		return http.StatusForbidden, errorBody{Code: "MissingToken", Message: err.Error(), Parameter: marketplace.TokenParam}
	case errors.Is(err, marketplace.ErrTokenMismatch):
		return http.StatusForbidden, errorBody{Code: "InvalidToken", Message: err.Error(), Parameter: marketplace.TokenParam}
	case errors.As(err, &param) && param.Param == "action":
		return http.StatusBadRequest, errorBody{Code: "InvalidAction", Message: err.Error(), Parameter: param.Param}
	case errors.As(err, &param):
		return http.StatusBadRequest, errorBody{Code: "InvalidParameter", Message: err.Error(), Parameter: param.Param}
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, errorBody{Code: "BodyTooLarge", Message: "the body is larger than 64 KiB"}
	case errors.Is(err, marketplace.ErrUnsupportedBody):
		return http.StatusUnsupportedMediaType, errorBody{Code: "UnsupportedBody", Message: err.Error()}
	case errors.Is(err, errMethodNotAllowed):
		return http.StatusMethodNotAllowed, errorBody{Code: "MethodNotAllowed", Message: err.Error()}
	case errors.Is(err, activation.ErrOtherProduct):
		return http.StatusBadRequest, errorBody{Code: "UnknownProduct", Message: "this endpoint serves another product", Parameter: "productCode"}
	case errors.Is(err, activation.ErrMarketDisagrees):
		return http.StatusConflict, errorBody{Code: "NotYetOnRecord", Message: "the marketplace's record does not show this change yet; call again"}
	case errors.Is(err, activation.ErrInstanceNotFound):
		return http.StatusNotFound, errorBody{Code: "InstanceNotFound", Message: "no instance is recorded under this id"}
	}
	return http.StatusInternalServerError, errorBody{Code: "InternalError", Message: "the call could not be applied now; call again"}
}

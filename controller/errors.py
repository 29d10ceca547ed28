"""One exception family, named after the real controller's error codes.

Services raise these; `controller.api.envelope` renders every one of them, in one place, as the real
error envelope `{"error": {code, message, cause?, requestId}, "meta": {...}}`.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    code = "UNHANDLED"
    status = 500
    message = "An unhandled error occurred"

    def __init__(self, message: str | None = None, *, cause: dict[str, Any] | None = None, status: int | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.cause = cause
        if status is not None:
            self.status = status

    @classmethod
    def with_reason(cls, reason: str, **kwargs: Any) -> "ApiError":
        """An error whose cause is a plain message, the shape the controller gives wrapped Go errors."""
        return cls(cause={"code": "UNHANDLED", "message": reason}, **kwargs)

    @classmethod
    def for_field(cls, field: str, reason: str, value: Any = None) -> "ApiError":
        return cls(cause={"field": field, "reason": reason, "value": value})


def _error(name: str, code: str, status: int, message: str) -> type[ApiError]:
    return type(name, (ApiError,), {"code": code, "status": status, "message": message})


Unauthorized = _error(
    "Unauthorized", "UNAUTHORIZED", 401,
    "The request could not be completed. The session is not authorized or the credentials are invalid",
)
InvalidAuth = _error("InvalidAuth", "INVALID_AUTH", 401, "The authentication request failed")
InvalidAuthMethod = _error("InvalidAuthMethod", "INVALID_AUTH_METHOD", 400, "The supplied authentication method is not valid")
class NotFound(ApiError):
    code, status, message = "NOT_FOUND", 404, "The resource requested was not found or is no longer available"

    @classmethod
    def for_id(cls, entity_id: str) -> "NotFound":
        return cls(cause={"field": "id", "reason": "not found", "value": entity_id})


MethodNotAllowed = _error("MethodNotAllowed", "METHOD_NOT_ALLOWED", 405, "The resource requested does not support this HTTP verb")
CouldNotValidate = _error("CouldNotValidate", "COULD_NOT_VALIDATE", 400, "The supplied request contains an invalid document or no valid accept content were available, see cause")
CouldNotParseBody = _error("CouldNotParseBody", "COULD_NOT_PARSE_BODY", 400, "The body of the request could not be parsed")
InvalidPagination = _error("InvalidPagination", "INVALID_PAGINATION", 400, "The pagination properties provided are invalid")
InvalidFilter = _error("InvalidFilter", "INVALID_FILTER", 400, "The filter query supplied is invalid")
InvalidSortIdentifier = _error("InvalidSortIdentifier", "INVALID_SORT_IDENTIFIER", 400, "The sort order supplied is invalid")
UnsupportedMedia = _error("UnsupportedMedia", "UNSUPPORTED_MEDIA", 415, "The requested media type is not supported")
MissingOrInvalidCsr = _error("MissingOrInvalidCsr", "MISSING_OR_INVALID_CSR", 400, "The request requires a CSR and one was not provided or was invalid")
CouldNotProcessCsr = _error("CouldNotProcessCsr", "COULD_NOT_PROCESS_CSR", 400, "Could not process the supplied CSR")
CanNotUpdateAuthenticator = _error("CanNotUpdateAuthenticator", "CAN_NOT_UPDATE_AUTHENTICATOR", 409, "The authenticator cannot be updated in this manner")
InvalidClientCert = _error("InvalidClientCert", "INVALID_CLIENT_CERT", 400, "The supplied client certificate is not valid")
MaxAuthenticatorMethodsReached = _error("MaxAuthenticatorMethodsReached", "MAX_AUTHENTICATOR_METHODS_REACHED", 409, "The identity already has an authenticator of this method")
CouldNotParsePemBlock = _error("CouldNotParsePemBlock", "COULD_NOT_PARSE_PEM_BLOCK", 400, "Could not parse the supplied PEM block")
InvalidEnrollmentToken = _error("InvalidEnrollmentToken", "INVALID_ENROLLMENT_TOKEN", 400, "The supplied token is not valid")
EnrollmentExpired = _error("EnrollmentExpired", "ENROLLMENT_EXPIRED", 400, "The window for this enrollment has expired")
InvalidEnrollMethod = _error("InvalidEnrollMethod", "INVALID_ENROLL_METHOD", 400, "The enrollment method requested is invalid")
EnrollmentExists = _error("EnrollmentExists", "ENROLLMENT_EXISTS", 409, "An enrollment for this method already exists for this identity")
CanNotDeleteReferencedEntity = _error("CanNotDeleteReferencedEntity", "CAN_NOT_DELETE_REFERENCED_ENTITY", 409, "The entity requested for delete is referenced by another entity")
Unhandled = _error("Unhandled", "UNHANDLED", 500, "An unhandled error occurred")
EnrollmentIdentityAlreadyEnrolled = _error("EnrollmentIdentityAlreadyEnrolled", "ENROLLMENT_IDENTITY_ALREADY_ENROLLED", 409, "The identity is already enrolled")
CertInUse = _error("CertInUse", "CERT_IN_USE", 409, "The certificate supplied is already associated with another identity")
EnrollmentNoValidCas = _error("EnrollmentNoValidCas", "ENROLLMENT_NO_VALID_CAS", 400, "No valid certificate authorities are available for enrollment")
CaAlreadyVerified = _error("CaAlreadyVerified", "CA_ALREADY_VERIFIED", 409, "The CA has already been verified")
InvalidCommonName = _error("InvalidCommonName", "INVALID_COMMON_NAME", 400, "The common name of the certificate does not match the CA's verification token")
CertificateFailedValidation = _error("CertificateFailedValidation", "CERTIFICATE_FAILED_VALIDATION", 400, "The supplied certificate failed validation")
ExpectedPemCertificate = _error("ExpectedPemCertificate", "EXPECTED_PEM_CERTIFICATE", 400, "Expected a PEM encoded CERTIFICATE block")
CouldNotParseDerBlock = _error("CouldNotParseDerBlock", "COULD_NOT_PARSE_DER_BLOCK", 400, "Could not parse the DER of the supplied certificate")
CertFailedValidation = _error("CertFailedValidation", "CERT_FAILED_VALIDATION", 400, "The client certificate failed validation against the enrollment's certificate authorities")
EnrollmentCaNotValid = _error("EnrollmentCaNotValid", "ENROLLMENT_CA_NOT_VALID", 400, "The certificate authority of the enrollment is not valid for this enrollment")
MissingCertClaim = _error("MissingCertClaim", "MISSING_CERT_CLAIM", 400, "The certificate does not hold the claim the CA's externalIdClaim names")

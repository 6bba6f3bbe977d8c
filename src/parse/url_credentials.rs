//! Credentials in the URLs of an event. The LMS logs every request it serves, and some of its
//! pages are reached by a link that is itself a credential: whoever holds the link of an account
//! activation, an e-mail change, a password reset or a one-click unsubscription can act as the
//! learner it was sent to. Single sign-on and OAuth put codes, tokens and signatures in query
//! parameters. An event's page, referer and path-style type reach public tables (`EdxTrackEvent`,
//! `urls`, `resources`), so each such credential is replaced by [`HIDDEN`] before any table sees
//! the text. The page stays one resource (`/activate/_hidden_`), where the keys made one per
//! learner.
//!
//! The forms, from the LMS's URL patterns (`common/djangoapps/student/urls.py`,
//! `openedx/core/djangoapps/user_authn/urls_common.py`, `notification_prefs`, `bulk_email`):
//!
//! * the path segment after `/activate/`, `/activate_secondary_email/`, `/email_confirm/`,
//!   `/password_reset_confirm/`, `/account_recovery_confirm/`, `/password/reset/`,
//!   `/notification_prefs/unsubscribe/` and `/email/optout/`, at the start of the path (or after
//!   `/authn`, where Tutor serves the Authn MFE), also percent-encoded in a parameter
//!   (`/login?next=%2Factivate%2F<key>`);
//! * the value of a query parameter that carries a credential: OAuth 2 and OpenID Connect's
//!   `code`, `state`, `access_token`, `refresh_token`, `id_token`, `client_secret`; OAuth 1 and
//!   LTI's `oauth_token`, `oauth_verifier`, `oauth_signature`; CAS's `ticket`; SAML's
//!   `SAMLRequest` and `SAMLResponse`; `token`, `auth_token`, `jwt`, `password`, `api_key`,
//!   `signature`, `sig`; signed S3 and CloudFront addresses' `X-Amz-Signature`,
//!   `X-Amz-Credential`, `X-Amz-Security-Token`, `Signature`, `Policy` and `Key-Pair-Id`. The
//!   same, percent-encoded inside another parameter's value, is hidden too.

use std::borrow::Cow;
use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use regex::Regex;

/// What a credential is replaced by.
pub const HIDDEN: &str = "_hidden_";

/// A path whose next segment is a credential: its start, the prefix, then the credential.
static SECRET_SEGMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?xi)
        (?P<before>
          (?: ^(?:[a-z][a-z0-9+.-]*://[^/?\#]*)? | = )
          (?:/|%2F) (?:authn(?:/|%2F))?
          (?: activate | activate_secondary_email | email_confirm | password_reset_confirm
            | account_recovery_confirm | password(?:/|%2F)reset
            | notification_prefs(?:/|%2F)unsubscribe | email(?:/|%2F)optout )
          (?:/|%2F)
        )
        (?P<secret>[^/?\#&%]+)",
    )
    .unwrap()
});

/// A query parameter whose value is a credential: `?name=` or `&name=` (then the value runs to
/// the next `&` or `#`), or the same percent-encoded inside another value (then to the next `%`).
static SECRET_PARAMETER: LazyLock<Regex> = LazyLock::new(|| {
    const NAMES: &str = "access_token|refresh_token|id_token|token|auth_token|code|state|\
                         client_secret|password|signature|sig|oauth_signature|oauth_token|\
                         oauth_verifier|ticket|samlresponse|samlrequest|jwt|api_key|\
                         x-amz-signature|x-amz-credential|x-amz-security-token|policy|key-pair-id";
    Regex::new(&format!(
        r"(?i)(?P<plain>[?&](?:{NAMES})=)(?P<plain_value>[^&#]+)|(?P<encoded>(?:%3F|%26)(?:{NAMES})%3D)(?P<encoded_value>[^&#%]+)"
    ))
    .unwrap()
});

// Every form holds one of these (in any case): most URLs are passed over without the regular
// expressions.
static MARKS: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build([
            "activate",
            "email_confirm",
            "recovery_confirm",
            "reset",
            "unsubscribe",
            "optout",
            "token",
            "code",
            "state",
            "secret",
            "password",
            "sig",
            "oauth",
            "ticket",
            "saml",
            "jwt",
            "api_key",
            "x-amz-",
            "policy",
            "key-pair-id",
        ])
        .unwrap()
});

/// The paths whose next segment is a credential, as [`SECRET_SEGMENT`] names them.
pub(super) const SECRET_PATHS: [&str; 8] = [
    "/activate/",
    "/activate_secondary_email/",
    "/email_confirm/",
    "/password_reset_confirm/",
    "/account_recovery_confirm/",
    "/password/reset/",
    "/notification_prefs/unsubscribe/",
    "/email/optout/",
];

/// Whether `url` may hold a credential: a URL without `=` holds no parameter and no encoded URL,
/// so only its path can (most event types and pages are such URLs, and this is cheaper than the
/// marks); one with `=` holds one of [`MARKS`].
fn may_hold_a_credential(url: &str) -> bool {
    if memchr::memchr(b'=', url.as_bytes()).is_some() {
        return MARKS.is_match(url);
    }
    // The scheme's `://`, found by its `:` (a `find("://")` set up a substring search for each
    // URL).
    let b = url.as_bytes();
    let path = match memchr::memchr_iter(b':', b).find(|&at| b[at + 1..].starts_with(b"//")) {
        Some(at) => memchr::memchr(b'/', &b[at + 3..]).map_or("", |p| &url[at + 3 + p..]),
        None => url,
    };
    // Tutor serves the Authn MFE under `/authn` on the MFEs' host.
    let path = path.strip_prefix("/authn").unwrap_or(path).as_bytes();
    (SECRET_PATHS.iter())
        .any(|p| path.len() >= p.len() && path[..p.len()].eq_ignore_ascii_case(p.as_bytes()))
}

/// `url` with each credential it holds replaced by [`HIDDEN`]; borrowed when it holds none.
pub fn hide_credentials(url: &str) -> Cow<'_, str> {
    if !may_hold_a_credential(url) {
        return Cow::Borrowed(url);
    }
    let segments = SECRET_SEGMENT.replace_all(url, |c: &regex::Captures<'_>| {
        format!("{}{HIDDEN}", &c["before"])
    });
    let parameters = SECRET_PARAMETER.replace_all(&segments, |c: &regex::Captures<'_>| {
        let name = (c.name("plain").or_else(|| c.name("encoded"))).map_or("", |m| m.as_str());
        format!("{name}{HIDDEN}")
    });
    match parameters {
        Cow::Owned(hidden) => Cow::Owned(hidden),
        Cow::Borrowed(_) => segments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_credential_in_a_path_is_hidden() {
        for (url, expected) in [
            (
                "/activate/2d3a39b4064b44f9ba3d0d04c007fbc4",
                "/activate/_hidden_",
            ),
            (
                "https://lms.example.org/activate/2d3a39b4064b44f9ba3d0d04c007fbc4",
                "https://lms.example.org/activate/_hidden_",
            ),
            (
                "/activate_secondary_email/9a8b7c6d5e4f",
                "/activate_secondary_email/_hidden_",
            ),
            ("/email_confirm/0f1e2d3c4b5a", "/email_confirm/_hidden_"),
            (
                "https://lms.example.org/password_reset_confirm/1b-4xk-8c1f2e3d4a5b6c7d8e9f/",
                "https://lms.example.org/password_reset_confirm/_hidden_/",
            ),
            (
                "https://authn.example.org/password_reset_confirm/4xk-8c1f2e3d4a5b",
                "https://authn.example.org/password_reset_confirm/_hidden_",
            ),
            (
                "https://apps.example.org/authn/password_reset_confirm/4xk-8c1f2e3d4a5b/",
                "https://apps.example.org/authn/password_reset_confirm/_hidden_/",
            ),
            (
                "/account_recovery_confirm/1b-4xk-8c1f2e3d/",
                "/account_recovery_confirm/_hidden_/",
            ),
            (
                "/password/reset/1b-4xk-8c1f2e3d/",
                "/password/reset/_hidden_/",
            ),
            (
                "/notification_prefs/unsubscribe/YWxpY2Vfdw==/",
                "/notification_prefs/unsubscribe/_hidden_/",
            ),
            (
                "/email/optout/YWxpY2Vfdw==/course-v1:O+C+R",
                "/email/optout/_hidden_/course-v1:O+C+R",
            ),
            // Where the login page sends the learner back to.
            (
                "https://lms.example.org/login?next=%2Factivate%2F2d3a39b4064b44f9",
                "https://lms.example.org/login?next=%2Factivate%2F_hidden_",
            ),
        ] {
            assert_eq!(hide_credentials(url), expected, "{url}");
        }
    }

    #[test]
    fn each_credential_in_a_query_is_hidden() {
        for (url, expected) in [
            (
                "https://lms.example.org/auth/complete/google-oauth2/?state=Xy12&code=4/0Ab-9&scope=email",
                "https://lms.example.org/auth/complete/google-oauth2/?state=_hidden_&code=_hidden_&scope=email",
            ),
            (
                "/api/mobile/v1/users/x/?access_token=abc.def.ghi",
                "/api/mobile/v1/users/x/?access_token=_hidden_",
            ),
            (
                "https://cdn.example.org/v.mp4?Policy=eyJ&Signature=Zm9v&Key-Pair-Id=K2J",
                "https://cdn.example.org/v.mp4?Policy=_hidden_&Signature=_hidden_&Key-Pair-Id=_hidden_",
            ),
            (
                "https://s3.example.org/f.pdf?X-Amz-Credential=AKIA%2F2024&X-Amz-Signature=ab12#p=2",
                "https://s3.example.org/f.pdf?X-Amz-Credential=_hidden_&X-Amz-Signature=_hidden_#p=2",
            ),
            (
                "https://lms.example.org/login?next=%2Fauth%2Fcomplete%3Fcode%3D4Ab9%26state%3Dq1",
                "https://lms.example.org/login?next=%2Fauth%2Fcomplete%3Fcode%3D_hidden_%26state%3D_hidden_",
            ),
            (
                "/courses/O/C/R/lti?oauth_signature=c2ln&oauth_token=t0k",
                "/courses/O/C/R/lti?oauth_signature=_hidden_&oauth_token=_hidden_",
            ),
        ] {
            assert_eq!(hide_credentials(url), expected, "{url}");
        }
    }

    #[test]
    fn other_urls_are_left_as_they_are() {
        for url in [
            "https://lms.example.org/courses/course-v1:O+C+R/courseware/a/b/?activate_block_id=block-v1%3AO%2BC%2BR%2Btype%40sequential%2Bblock%40b",
            "https://lms.example.org/courses/O/C/R/courseware/activate/x/",
            "/oauth2/access_token/",
            "edx.course.enrollment.activated",
            "/password_reset/",
            "/api/user/v1/account/password_reset/",
            "https://lms.example.org/courses/O/C/R/xblock/i4x://O/C/problem/p/handler/xmodule_handler/problem_check",
            "https://lms.example.org/search?q=state+of+the+art&codeword=1",
            "/dashboard",
            "",
        ] {
            assert!(
                matches!(hide_credentials(url), Cow::Borrowed(u) if u == url),
                "{url}"
            );
        }
    }
}

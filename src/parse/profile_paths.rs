//! Usernames in the URLs of an event: the pages of a learner's profile and of their forum
//! activity, and the APIs behind them, name the learner by username. An event's page, referer
//! and path-style type reach public tables (`EdxTrackEvent`, `urls`, `resources`), where a
//! username is what the anonymisation keeps out. Each is replaced by the learner's
//! `anon_screen_name`, as the username of an event is: the page stays linked to the learner it
//! shows, and to nothing outside the database.
//!
//! The forms, as Open edX writes them since about 2015 (2013 logs have none):
//!
//! * the LMS's and the Profile MFE's profile page, `/u/<username>`;
//! * the Discussions MFE's pages of one learner's posts, `/discussions/<course>/learners/<username>/…`;
//! * the user APIs, `/api/user/v1/accounts/<username>`, `/api/user/v1/preferences/<username>`;
//! * the profile image API, `/api/profile_images/v1/<username>/…`;
//! * the mobile API, `/api/mobile/<version>/users/<username>/…`;
//! * a query parameter `username=<username>` (the forum and user APIs).

use std::borrow::Cow;
use std::sync::LazyLock;

use memchr::memmem::Finder;
use percent_encoding::percent_decode_str;
use regex::Regex;

use crate::identity::AnonName;

/// The path segment before the username, with what must stand before it in the path.
static PROFILE_PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        (?: ^(?:[a-z][a-z0-9+.-]*://[^/?\#]*)?/u/
          | /discussions/[^/?\#]+/learners/
          | /api/user/v1/(?:accounts|preferences)/
          | /api/profile_images/v1/
          | /api/mobile/[^/?\#]+/users/
          | [?&]username=
        )
        (?P<name>[^/?\#&]+)",
    )
    .unwrap()
});

// Every form holds one of these: most URLs are passed over without the regular expression.
static MARKS: LazyLock<[Finder<'static>; 4]> = LazyLock::new(|| {
    [
        Finder::new("/u/"),
        Finder::new("/learners/"),
        Finder::new("/api/"),
        Finder::new("username="),
    ]
});

/// `url` with each username it holds replaced by the learner's `anon_screen_name`; borrowed
/// when it holds none.
pub fn hide_usernames(url: &str) -> Cow<'_, str> {
    if !MARKS.iter().any(|mark| mark.find(url.as_bytes()).is_some()) {
        return Cow::Borrowed(url);
    }
    PROFILE_PATH.replace_all(url, |c: &regex::Captures<'_>| {
        let whole = &c[0];
        let name = &c["name"];
        let username = percent_decode_str(name).decode_utf8_lossy();
        let prefix = &whole[..whole.len() - name.len()];
        format!("{prefix}{}", AnonName::of_username(&username).as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anon(username: &str) -> String {
        AnonName::of_username(username).as_str().to_string()
    }

    #[test]
    fn each_form_names_the_learner_by_their_anon_screen_name() {
        let a = anon("alice_w");
        for (url, expected) in [
            (
                "https://lms.example.org/u/alice_w",
                format!("https://lms.example.org/u/{a}"),
            ),
            ("/u/alice_w", format!("/u/{a}")),
            (
                "https://profile.example.org/u/alice_w?x=1",
                format!("https://profile.example.org/u/{a}?x=1"),
            ),
            (
                "https://apps.example.org/discussions/course-v1:O+C+R/learners/alice_w/posts",
                format!("https://apps.example.org/discussions/course-v1:O+C+R/learners/{a}/posts"),
            ),
            (
                "/api/user/v1/accounts/alice_w",
                format!("/api/user/v1/accounts/{a}"),
            ),
            (
                "/api/user/v1/preferences/alice_w/time_zone",
                format!("/api/user/v1/preferences/{a}/time_zone"),
            ),
            (
                "/api/profile_images/v1/alice_w/upload",
                format!("/api/profile_images/v1/{a}/upload"),
            ),
            (
                "/api/mobile/v0.5/users/alice_w/course_enrollments/",
                format!("/api/mobile/v0.5/users/{a}/course_enrollments/"),
            ),
            (
                "/api/discussion/v1/threads/?course_id=x&username=alice_w&page=2",
                format!("/api/discussion/v1/threads/?course_id=x&username={a}&page=2"),
            ),
        ] {
            assert_eq!(hide_usernames(url), expected, "{url}");
        }
        // Percent-encoded as a browser sends it: the name as the learner chose it.
        assert_eq!(
            hide_usernames("/u/J%C3%BCrgen"),
            format!("/u/{}", anon("Jürgen"))
        );
    }

    #[test]
    fn other_urls_are_left_as_they_are() {
        for url in [
            "https://lms.example.org/courses/O/C/R/courseware/u/s/",
            "https://lms.example.org/courses/O/C/R/u/x",
            "/api/courses/v1/blocks/",
            "/api/user/v1/accounts",
            "/dashboard",
            "x_module",
            "",
        ] {
            assert!(
                matches!(hide_usernames(url), Cow::Borrowed(u) if u == url),
                "{url}"
            );
        }
    }
}

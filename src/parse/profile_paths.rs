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
//! * a query parameter `username=<username>` (the forum and user APIs), `author=<username>` (the
//!   discussion API), `user=<username>` (the enrollment API) or
//!   `unique_student_identifier=<username or e-mail>` (the instructor dashboard's APIs).
//!
//! A learner's numeric user id in a path (`/courses/<course>/progress/<id>`, staff viewing a
//! learner's progress; `/courses/<course>/discussion/forum/users/<id>`, a learner's forum
//! profile; `/certificates/user/<id>/…`) is the learner's key in the platform's user table, and
//! the log does not say whose it is before the learner's own events: it becomes `_hidden_`, as
//! credentials do (`url_credentials`).
//!
//! An e-mail address anywhere in a URL (the accounts API finds a learner by `?email=`) is
//! replaced by RIPEMD-160 of the address, the `anon_screen_name` json_to_relation gives the
//! learner who signs in with it (`/login_ajax`). Opaque keys hold `@` too (`+type@problem`,
//! `+block@hw1.pdf`): those are not addresses.

use std::borrow::Cow;
use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use percent_encoding::percent_decode_str;
use regex::Regex;

use super::url_credentials::HIDDEN;
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
          | [?&](?:username|user|author|unique_student_identifier)=
        )
        (?P<name>[^/?\#&]+)",
    )
    .unwrap()
});

/// What follows a `/` in each path form of a username or a user id (`user` also stands for
/// `users/`).
const PATH_MARKS: [&[u8]; 5] = [b"u/", b"learners/", b"api/", b"progress/", b"user"];

/// What each query form holds (`user` also stands for `username=`).
static QUERY_MARKS: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::new([
        "user=",
        "username=",
        "author=",
        "unique_student_identifier=",
    ])
    .unwrap()
});

/// A learner's numeric user id in a path, with what stands before and after it.
static USER_ID_PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        (?P<before> /courses/(?:[^/?\#]+/){1,3}(?:progress|discussion/forum/users)/
                  | /certificates/user/ )
        [0-9]+ (?P<after>[/?\#]|$)",
    )
    .unwrap()
});

/// An e-mail address, its `@` as is or percent-encoded.
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?P<local>[A-Za-z0-9._%+-]+)(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    )
    .unwrap()
});

/// The part of an opaque key before its `@` (`…+type@problem+block@hw1.pdf`).
const KEY_PARTS: [&str; 6] = ["block", "type", "ccx", "version", "branch", "definition"];

/// `url` with each username it holds replaced by the learner's `anon_screen_name`; borrowed
/// when it holds none.
pub fn hide_usernames(url: &str) -> Cow<'_, str> {
    let address = may_hold_an_address(url);
    if !address && !may_hold_a_name(url) {
        return Cow::Borrowed(url);
    }
    let names = PROFILE_PATH.replace_all(url, |c: &regex::Captures<'_>| {
        let whole = &c[0];
        let name = &c["name"];
        let username = percent_decode_str(name).decode_utf8_lossy();
        let prefix = &whole[..whole.len() - name.len()];
        format!("{prefix}{}", AnonName::of_username(&username).as_str())
    });
    let names = match USER_ID_PATH.replace_all(&names, |c: &regex::Captures<'_>| {
        format!("{}{HIDDEN}{}", &c["before"], &c["after"])
    }) {
        Cow::Owned(hidden) => Cow::Owned(hidden),
        Cow::Borrowed(_) => names,
    };
    if !address {
        return names;
    }
    let addresses = EMAIL.replace_all(&names, |c: &regex::Captures<'_>| {
        let local = c["local"].to_ascii_lowercase();
        if KEY_PARTS.iter().any(|k| local.ends_with(k)) {
            return c[0].to_string();
        }
        let address = percent_decode_str(&c[0]).decode_utf8_lossy();
        AnonName::of_bytes(address.as_bytes()).as_str().to_string()
    });
    match addresses {
        Cow::Owned(hidden) if hidden != *names => Cow::Owned(hidden),
        _ => names,
    }
}

/// Whether `url` may hold a username or a user id: one of [`PATH_MARKS`] after a `/`, or, in a
/// URL with a query, one of [`QUERY_MARKS`]. Most URLs hold neither, and this rules them out in
/// a few comparisons per path segment. Looking for each form's mark in turn, seven passes over
/// the URL, had made hiding usernames and credentials a tenth of a dry run's instructions: with
/// this check and the scheme found by its `:` (`url_credentials`), `public_url` took 61.0M
/// instead of 119.5M, and the whole run 1.147G instead of 1.205G (`valgrind --tool=callgrind
/// moocdb load --dry-run` of `moocdb generate --events 30000 --users 400 --days 60 --seed 7`).
fn may_hold_a_name(url: &str) -> bool {
    let b = url.as_bytes();
    let in_path = |at: usize| PATH_MARKS.iter().any(|m| b[at + 1..].starts_with(m));
    memchr::memchr_iter(b'/', b).any(in_path)
        || (memchr::memchr(b'=', b).is_some() && QUERY_MARKS.is_match(url))
}

/// Whether `url` has an `@` (or `%40`) that is not an opaque key's: the URLs of today's LMS
/// all hold keys, and most hold no address.
fn may_hold_an_address(url: &str) -> bool {
    let b = url.as_bytes();
    let in_a_key = |at: usize| KEY_PARTS.iter().any(|k| b[..at].ends_with(k.as_bytes()));
    let encoded_at = |at: &usize| b[at + 1..].starts_with(b"40");
    memchr::memchr_iter(b'@', b).any(|at| !in_a_key(at))
        || (memchr::memchr_iter(b'%', b).filter(encoded_at)).any(|at| !in_a_key(at))
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
        for (url, expected) in [
            (
                "/api/enrollment/v1/enrollment?user=alice_w&course_id=x",
                format!("/api/enrollment/v1/enrollment?user={a}&course_id=x"),
            ),
            (
                "/api/discussion/v1/threads/?course_id=x&author=alice_w",
                format!("/api/discussion/v1/threads/?course_id=x&author={a}"),
            ),
            (
                "/courses/O/C/R/instructor/api/reset_student_attempts?unique_student_identifier=alice_w",
                format!(
                    "/courses/O/C/R/instructor/api/reset_student_attempts?unique_student_identifier={a}"
                ),
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
    fn a_user_id_in_a_path_is_hidden() {
        for (url, expected) in [
            (
                "https://courses.edx.org/courses/course-v1:edX+DemoX+Demo_Course/progress/7197314/",
                "https://courses.edx.org/courses/course-v1:edX+DemoX+Demo_Course/progress/_hidden_/",
            ),
            (
                "/courses/O/C/R/discussion/forum/users/42",
                "/courses/O/C/R/discussion/forum/users/_hidden_",
            ),
            (
                "/courses/O/C/R/discussion/forum/users/42?ajax=1",
                "/courses/O/C/R/discussion/forum/users/_hidden_?ajax=1",
            ),
            (
                "/certificates/user/42/course/course-v1:O+C+R",
                "/certificates/user/_hidden_/course/course-v1:O+C+R",
            ),
        ] {
            assert_eq!(hide_usernames(url), expected, "{url}");
        }
        for url in [
            "/courses/O/C/R/progress",
            "/courses/O/C/R/progress/",
            "/courses/O/C/R/courseware/progress/4/",
            "/courses/O/C/R/discussion/forum/users/42abc",
        ] {
            assert!(
                matches!(hide_usernames(url), Cow::Borrowed(u) if u == url),
                "{url}"
            );
        }
    }

    #[test]
    fn an_email_address_is_its_hash() {
        let hash = AnonName::of_bytes(b"alice@example.org")
            .as_str()
            .to_string();
        for (url, expected) in [
            (
                "/api/user/v1/accounts?email=alice%40example.org",
                format!("/api/user/v1/accounts?email={hash}"),
            ),
            (
                "https://lms.example.org/register?email=alice@example.org&next=/",
                format!("https://lms.example.org/register?email={hash}&next=/"),
            ),
        ] {
            assert_eq!(hide_usernames(url), expected, "{url}");
        }
    }

    #[test]
    fn other_urls_are_left_as_they_are() {
        for url in [
            "https://lms.example.org/courses/O/C/R/courseware/u/s/",
            "https://lms.example.org/courses/O/C/R/u/x",
            "/api/courses/v1/blocks/",
            "/api/user/v1/accounts",
            "https://lms.example.org/asset-v1:O+C+R+type@asset+block@hw1.pdf",
            "https://lms.example.org/courses/course-v1:O+C+R/courseware/a/b/?activate_block_id=block-v1%3AO%2BC%2BR%2Btype%40sequential%2Bblock%40b.x",
            "https://lms.example.org/xblock/block-v1:O+C+R+type@problem+block@p1?view=student_view",
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

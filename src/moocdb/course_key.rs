//! Course and usage keys in every spelling edX has logged, and the one spelling the MOOCdb
//! stage names resources and problems by.
//!
//! Logs up to about 2015 name a course `Org/Course/Run` and a module (problem, video, …)
//! `i4x://Org/Course/category/name`. Later logs use the opaque keys of edx-opaque-keys:
//! `course-v1:Org+Course+Run`, `block-v1:Org+Course+Run+type@category+block@name`, and their
//! CCX, library and asset variants. edx-opaque-keys defines the correspondence this module
//! follows: `course-v1:O+C+R` ≡ `O/C/R` and `block-v1:O+C+R+type@T+block@N` ≡ `i4x://O/C/T/N`.
//! Resources and problems are named in the legacy spelling, so one course yields the same tree
//! whichever format its log uses (and the legacy conformance outputs stay as they were), while
//! `urls` keeps each URL as it was logged (beside each resource's address, its URI).

use std::borrow::Cow;
use std::sync::LazyLock;

use memchr::memmem::Finder;
use regex::{Captures, Regex};

/// Every opaque key, by its prefix. A key's parts are separated by `+`; its characters are
/// edx-opaque-keys' `[\w\-~.:]` plus the `@` of its tagged parts.
static OPAQUE_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        (?P<prefix>ccx-block-v1|lib-block-v1|block-v1|course-v1|ccx-v1|library-v1|asset-v1):
        (?P<body>[\w\-~.:@+]+)",
    )
    .unwrap()
});

/// An XBlock handler path: `xblock/<usage>/handler/<handler>[/<action>]`, whose legacy form is
/// `modx/<location>/<action>` (the `xmodule_handler` of capa problems, sequences, videos) or
/// `xblock/<location>/<handler>`.
static HANDLER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"xblock/(?P<usage>i4x://[^/]+/[^/]+/[^/]+/[^/]+)/handler(?:_noauth)?/(?:xmodule_handler/)?(?P<action>[^/?#]+)")
        .unwrap()
});

static ANY_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("-v1:"));

/// A page of the Learning MFE, which shows the courseware since about 2021:
/// `/learning/course/<course>/<sequential>/<unit>`, `/learning/course/<course>/<tab>` (`home`,
/// `progress`, `dates`, …). edx.org serves it from its own host without the `/learning` prefix
/// (`https://learning.edx.org/course/<course>/…`); Studio's course outline is `/course/<course>`
/// alone, so without the prefix a page must name something after the course.
static LEARNING_PAGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        ^(?P<origin>[A-Za-z][A-Za-z0-9+.\-]*://[^/?\#]*)?
        (?P<learning>/learning)?/course/
        (?P<course>(?:course|ccx)-v1:[\w\-~.:@+]+)
        (?P<path>/[^?\#]*)?
        (?P<tail>[?\#].*)?$",
    )
    .unwrap()
});

/// A page of the Discussions MFE, the course forum since about 2022:
/// `/discussions/<course>/posts/<thread>`, `/discussions/<course>/topics/<topic>`, ….
static DISCUSSIONS_PAGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        ^(?P<origin>[A-Za-z][A-Za-z0-9+.\-]*://[^/?\#]*)?
        /discussions/(?P<course>(?:course|ccx)-v1:[\w\-~.:@+]+)
        (?P<rest>[/?\#].*)?$",
    )
    .unwrap()
});

/// The LMS page that renders one block, a unit in the Learning MFE's frame:
/// `/xblock/<usage>?view=student_view…` (no course in the path; its handlers are
/// `/courses/<course>/xblock/<usage>/handler/…`).
static BLOCK_PAGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        ^(?P<origin>[A-Za-z][A-Za-z0-9+.\-]*://[^/?\#]*)?
        /xblock/(?P<usage>(?:ccx-)?block-v1:[\w\-~.:@+]+)/?
        (?P<tail>[?\#].*)?$",
    )
    .unwrap()
});

/// The parts of an opaque key's body: untagged parts (`Org`, `Course`, `Run`) and tagged ones
/// (`type@problem`, `block@abc`, `ccx@3`).
struct KeyParts<'a> {
    plain: Vec<&'a str>,
    tagged: Vec<(&'a str, &'a str)>,
}

impl<'a> KeyParts<'a> {
    fn of(body: &'a str) -> KeyParts<'a> {
        let mut parts = KeyParts {
            plain: Vec::new(),
            tagged: Vec::new(),
        };
        for part in body.split('+') {
            match part.split_once('@') {
                Some((tag, value)) => parts.tagged.push((tag, value)),
                None => parts.plain.push(part),
            }
        }
        parts
    }

    fn tag(&self, name: &str) -> Option<&'a str> {
        self.tagged
            .iter()
            .find(|(t, _)| *t == name)
            .map(|(_, v)| *v)
    }
}

/// The legacy spelling of one opaque key (`prefix:body`), or `None` when it is not a well-formed
/// key (it is then left as logged).
fn legacy_key(prefix: &str, body: &str) -> Option<String> {
    let parts = KeyParts::of(body);
    let plain = &parts.plain;
    match prefix {
        "course-v1" if plain.len() == 3 && parts.tagged.is_empty() => {
            Some(format!("{}/{}/{}", plain[0], plain[1], plain[2]))
        }
        // A CCX is a course of its own, run inside its master course: one level, like a run.
        "ccx-v1" if plain.len() == 3 => {
            let ccx = parts.tag("ccx")?;
            Some(format!("{}/{}/{}.ccx{}", plain[0], plain[1], plain[2], ccx))
        }
        "library-v1" if plain.len() == 2 => Some(format!("{}/{}/library", plain[0], plain[1])),
        "block-v1" | "ccx-block-v1" | "lib-block-v1" if plain.len() >= 2 => {
            let (category, name) = (parts.tag("type")?, parts.tag("block")?);
            Some(format!("i4x://{}/{}/{category}/{name}", plain[0], plain[1]))
        }
        "asset-v1" if plain.len() == 3 => {
            let (category, name) = (parts.tag("type")?, parts.tag("block")?);
            Some(format!("c4x/{}/{}/{category}/{name}", plain[0], plain[1]))
        }
        _ => None,
    }
}

/// Whether `text` may hold an opaque key (a quick test: `legacy_spelling` of any other text is
/// the text itself).
pub fn may_hold_opaque_key(text: &str) -> bool {
    ANY_KEY.find(text.as_bytes()).is_some()
}

/// The course key of a block's usage key (`block-v1:O+C+R+type@T+block@N` → `course-v1:O+C+R`,
/// a CCX's block → its `ccx-v1:` course), `None` for a library's block or a malformed key.
fn course_of_usage(usage: &str) -> Option<String> {
    let (prefix, body) = usage.split_once(':')?;
    let parts = KeyParts::of(body);
    let [org, course, run] = parts.plain[..] else {
        return None;
    };
    match prefix {
        "block-v1" => Some(format!("course-v1:{org}+{course}+{run}")),
        "ccx-block-v1" => Some(format!(
            "ccx-v1:{org}+{course}+{run}+ccx@{}",
            parts.tag("ccx")?
        )),
        _ => None,
    }
}

/// The page of the legacy LMS that names what a page of an MFE or a block's frame shows, in the
/// same key format (`None` for any other text):
///
/// * a unit, `/learning/course/<course>/<sequential>/<unit>`, and the frame that renders it,
///   `/xblock/<unit>`, are both `/courses/<course>/jump_to/<unit>`, the legacy address of a
///   block (edX's course blocks API gives it as a unit's `legacy_web_url`); a sequential alone
///   is `/courses/<course>/jump_to/<sequential>`;
/// * a tab, `/learning/course/<course>/<tab>…`, is `/courses/<course>/<tab>…`, as the legacy
///   LMS had `/courses/<course>/progress`, `…/dates`;
/// * the forum, `/discussions/<course>/…`, is the course's `/courses/<course>/discussion/…`.
///
/// So the events of one unit share its resource whichever page logged them, in the course's
/// part of the resource tree, which the frame's address alone (`i4x://O/C/…`, no run) would not
/// tell from another run of the course with the same blocks.
fn legacy_page(text: &str) -> Option<String> {
    if !text.contains("/course/") && !text.contains("/xblock/") && !text.contains("/discussions/") {
        return None;
    }
    if let Some(c) = DISCUSSIONS_PAGE.captures(text) {
        let origin = c.name("origin").map_or("", |m| m.as_str());
        let rest = c.name("rest").map_or("", |m| m.as_str());
        return Some(format!(
            "{origin}/courses/{}/discussion{rest}",
            &c["course"]
        ));
    }
    if let Some(c) = BLOCK_PAGE.captures(text) {
        let usage = &c["usage"];
        let course = course_of_usage(usage)?;
        let origin = c.name("origin").map_or("", |m| m.as_str());
        let tail = c.name("tail").map_or("", |m| m.as_str());
        return Some(format!("{origin}/courses/{course}/jump_to/{usage}{tail}"));
    }
    let c = LEARNING_PAGE.captures(text)?;
    let path = c.name("path").map_or("", |m| m.as_str());
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    let first = segments.next();
    if c.name("learning").is_none() && first.is_none() {
        return None;
    }
    let origin = c.name("origin").map_or("", |m| m.as_str());
    let tail = c.name("tail").map_or("", |m| m.as_str());
    let course = &c["course"];
    let is_block = |s: &str| s.starts_with("block-v1:") || s.starts_with("ccx-block-v1:");
    Some(match first {
        Some(sequential) if is_block(sequential) => {
            let unit = segments
                .next()
                .filter(|s| is_block(s))
                .unwrap_or(sequential);
            format!("{origin}/courses/{course}/jump_to/{unit}{tail}")
        }
        _ => format!("{origin}/courses/{course}{path}{tail}"),
    })
}

/// `text` with every opaque key in its legacy spelling, and XBlock handler paths in the form
/// the legacy module URLs had (`…/xblock/<usage>/handler/xmodule_handler/problem_check` →
/// `…/xblock/i4x://O/C/problem/N/problem_check`); a page of the Learning MFE or a block's frame
/// is first the legacy LMS page that shows the same ([`legacy_page`]). Borrowed when `text` has
/// no opaque key.
pub fn legacy_spelling(text: &str) -> Cow<'_, str> {
    if ANY_KEY.find(text.as_bytes()).is_none() {
        return Cow::Borrowed(text);
    }
    let page = legacy_page(text);
    let text = page.as_deref().unwrap_or(text);
    let spelled = OPAQUE_KEY.replace_all(text, |c: &Captures<'_>| {
        legacy_key(&c["prefix"], &c["body"]).unwrap_or_else(|| c[0].to_string())
    });
    if !spelled.contains("/handler") {
        return Cow::Owned(spelled.into_owned());
    }
    let handled = HANDLER.replace_all(&spelled, "xblock/$usage/$action");
    Cow::Owned(handled.into_owned())
}

/// The character that stands for the `+` inside opaque keys while a URL is normalised: qpipe's
/// rules cut a URL at its first `+`, which in a key separates its parts.
const MASKED_PLUS: char = '\u{1}';

/// `text` with the `+` of its opaque keys masked (see [`unmask_key_separators`]).
pub fn mask_key_separators(text: &str) -> Cow<'_, str> {
    if ANY_KEY.find(text.as_bytes()).is_none() {
        return Cow::Borrowed(text);
    }
    OPAQUE_KEY.replace_all(text, |c: &Captures<'_>| {
        c[0].replace('+', MASKED_PLUS.encode_utf8(&mut [0; 4]))
    })
}

/// `text` with the `+` of its opaque keys back.
pub fn unmask_key_separators(text: String) -> String {
    if text.contains(MASKED_PLUS) {
        text.replace(MASKED_PLUS, "+")
    } else {
        text
    }
}

/// The texts an event's course is read from, in this order: its context's `course_id`, its page
/// URL, its event type (a path for an implicit event). The first that names a course gives it.
pub fn course_sources<'e>(
    context_course: Option<&'e str>,
    page: &'e str,
    event_type: &'e str,
) -> [&'e str; 3] {
    [context_course.unwrap_or(""), page, event_type]
}

static COURSES_PATH: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("courses/"));

/// The course key that `text` names, spelled as logged:
///
/// * a bare key: `Org/Course/Run`, `course-v1:Org+Course+Run`, `ccx-v1:…`;
/// * the course of a path of the LMS, `/courses/<course>/…`;
/// * else a course key anywhere in it: the Learning MFE's `/learning/course/<course>/…`, the
///   Discussions MFE's `/discussions/<course>/…`, Studio's `/course/<course>`,
///   `/settings/details/<course>`;
/// * else the course of the first block key in it: a unit's frame, `/xblock/<usage>`, or
///   Studio's `/xblock/<usage>` and `/container/<usage>` (a CCX's block names its CCX).
///
/// `None` for any other text, a library's block included (a library is in no course).
pub fn course_key_in(text: &str) -> Option<Cow<'_, str>> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    // A context's `course_id`, the common case: the text is the key ([`OPAQUE_KEY`] would
    // match all of it), found without the regular expression.
    if (text.starts_with("course-v1:") || text.starts_with("ccx-v1:"))
        && text.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'~' | b'.' | b':' | b'@' | b'+')
        })
    {
        return Some(Cow::Borrowed(text));
    }
    let may_hold_key = may_hold_opaque_key(text);
    if let Some(at) = COURSES_PATH.find(text.as_bytes()) {
        let mut segments = text[at + "courses/".len()..]
            .split(['/', '?', '#'])
            .filter(|p| !p.is_empty());
        let first = segments.next().unwrap_or("");
        if first.starts_with("course-v1:") || first.starts_with("ccx-v1:") {
            return Some(Cow::Borrowed(first));
        }
        let parts = [
            first,
            segments.next().unwrap_or(""),
            segments.next().unwrap_or(""),
        ];
        if parts.iter().all(|p| is_key_part(p)) {
            return Some(Cow::Owned(parts.join("/")));
        }
    } else if !may_hold_key {
        let mut parts = text.split('/');
        let bare = parts.by_ref().take(3).filter(|p| is_key_part(p)).count() == 3
            && parts.next().is_none();
        return bare.then_some(Cow::Borrowed(text));
    }
    if !may_hold_key {
        return None;
    }
    let mut block = None;
    for key in OPAQUE_KEY.captures_iter(text) {
        match &key["prefix"] {
            "course-v1" | "ccx-v1" => {
                let whole = key.get(0).expect("the whole match");
                return Some(Cow::Borrowed(&text[whole.range()]));
            }
            "block-v1" | "ccx-block-v1" if block.is_none() => block = Some(key.get(0)),
            _ => {}
        }
    }
    block
        .flatten()
        .and_then(|usage| course_of_usage(usage.as_str()))
        .map(Cow::Owned)
}

/// The course of an event, `Org/Course/Run` in the legacy spelling (a CCX is a run of its own,
/// `Org/Course/Run.ccxN`), from the course key that `text` names ([`course_key_in`]).
pub fn course_of(text: &str) -> Option<String> {
    let key = course_key_in(text)?;
    let spelled = legacy_spelling(&key);
    let parts: Vec<&str> = spelled.split('/').collect();
    (parts.len() == 3 && parts.iter().all(|p| is_key_part(p))).then(|| spelled.to_string())
}

fn is_key_part(p: &str) -> bool {
    !p.is_empty()
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'~' | b'.' | b'%'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_course_key_is_found_in_every_place_it_is_logged() {
        let key = |t: &str| course_key_in(t).map(|k| k.into_owned());
        // A context's `course_id`, taken whole without the regular expression, and the key
        // the regular expression finds where the text holds more.
        assert_eq!(key("course-v1:O+C+R").as_deref(), Some("course-v1:O+C+R"));
        assert_eq!(
            key("ccx-v1:O+C+R+ccx@3").as_deref(),
            Some("ccx-v1:O+C+R+ccx@3")
        );
        assert_eq!(key("course-v1:O+C+R;x").as_deref(), Some("course-v1:O+C+R"));
        assert_eq!(key(" O/C/R ").as_deref(), Some("O/C/R"));
        assert_eq!(key("O/C").as_deref(), None);
        assert_eq!(
            key("https://x.org/courses/course-v1:O+C+R/courseware/a/").as_deref(),
            Some("course-v1:O+C+R")
        );
        assert_eq!(key("/courses/O/C/R#top").as_deref(), Some("O/C/R"));
        assert_eq!(
            key("/xblock/block-v1:O+C+R+type@html+block@h").as_deref(),
            Some("course-v1:O+C+R")
        );
        assert_eq!(key("/dashboard"), None);
    }

    #[test]
    fn opaque_keys_take_their_legacy_spelling() {
        assert_eq!(
            legacy_spelling("/courses/course-v1:OpenCraft+PRDemo1+2016/courseware/a/b/"),
            "/courses/OpenCraft/PRDemo1/2016/courseware/a/b/"
        );
        assert_eq!(
            legacy_spelling(
                "/courses/course-v1:O+C+R/jump_to/block-v1:O+C+R+type@vertical+block@4ce7b9"
            ),
            "/courses/O/C/R/jump_to/i4x://O/C/vertical/4ce7b9"
        );
        assert_eq!(
            legacy_spelling(
                "/courses/course-v1:O+C+R/xblock/block-v1:O+C+R+type@problem+block@d2/handler/xmodule_handler/problem_check"
            ),
            "/courses/O/C/R/xblock/i4x://O/C/problem/d2/problem_check"
        );
        assert_eq!(
            legacy_spelling(
                "/courses/course-v1:O+C+R/xblock/block-v1:O+C+R+type@drag-and-drop-v2+block@3b/handler/drop_item"
            ),
            "/courses/O/C/R/xblock/i4x://O/C/drag-and-drop-v2/3b/drop_item"
        );
        assert_eq!(
            legacy_spelling("ccx-block-v1:O+C+R+ccx@3+type@problem+block@p1"),
            "i4x://O/C/problem/p1"
        );
        assert_eq!(
            legacy_spelling("/courses/ccx-v1:O+C+R+ccx@3/info"),
            "/courses/O/C/R.ccx3/info"
        );
        assert_eq!(
            legacy_spelling("lib-block-v1:O+Lib+type@problem+block@p1"),
            "i4x://O/Lib/problem/p1"
        );
        assert_eq!(
            legacy_spelling("/asset-v1:O+C+R+type@asset+block@slides.pdf"),
            "/c4x/O/C/asset/slides.pdf"
        );
        // Not a key: left as logged.
        assert_eq!(
            legacy_spelling("/courses/course-v1:A+B/x"),
            "/courses/course-v1:A+B/x"
        );
        assert!(matches!(
            legacy_spelling("/courses/O/C/R/info"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn learning_mfe_pages_and_block_frames_are_the_legacy_pages_of_what_they_show() {
        let k = "O+C+R";
        let (seq, unit) = (
            format!("block-v1:{k}+type@sequential+block@s1"),
            format!("block-v1:{k}+type@vertical+block@u1"),
        );
        let jump_to = "https://apps.x.org/courses/O/C/R/jump_to/i4x://O/C/vertical/u1";
        // A unit in the MFE, and the frame that renders it: one page.
        assert_eq!(
            legacy_spelling(&format!(
                "https://apps.x.org/learning/course/course-v1:{k}/{seq}/{unit}"
            )),
            jump_to
        );
        assert_eq!(
            legacy_spelling(&format!(
                "https://lms.x.org/xblock/{unit}?show_title=0&view=student_view"
            )),
            "https://lms.x.org/courses/O/C/R/jump_to/i4x://O/C/vertical/u1?show_title=0&view=student_view"
        );
        assert_eq!(
            legacy_spelling(&format!("/xblock/{unit}")),
            "/courses/O/C/R/jump_to/i4x://O/C/vertical/u1"
        );
        // edx.org's own MFE host, without the prefix.
        assert_eq!(
            legacy_spelling(&format!(
                "https://learning.edx.org/course/course-v1:{k}/{seq}/{unit}#x"
            )),
            "https://learning.edx.org/courses/O/C/R/jump_to/i4x://O/C/vertical/u1#x"
        );
        // A sequential alone, tabs, the course itself.
        assert_eq!(
            legacy_spelling(&format!("/learning/course/course-v1:{k}/{seq}")),
            "/courses/O/C/R/jump_to/i4x://O/C/sequential/s1"
        );
        assert_eq!(
            legacy_spelling(&format!("/learning/course/course-v1:{k}/progress/7?x=1")),
            "/courses/O/C/R/progress/7?x=1"
        );
        assert_eq!(
            legacy_spelling(&format!("/learning/course/course-v1:{k}/home")),
            "/courses/O/C/R/home"
        );
        assert_eq!(
            legacy_spelling(&format!("/learning/course/course-v1:{k}")),
            "/courses/O/C/R"
        );
        // The Discussions MFE: the course's forum.
        assert_eq!(
            legacy_spelling(&format!(
                "https://apps.x.org/discussions/course-v1:{k}/posts/5f2a?x=1"
            )),
            "https://apps.x.org/courses/O/C/R/discussion/posts/5f2a?x=1"
        );
        assert_eq!(
            legacy_spelling(&format!("/discussions/course-v1:{k}")),
            "/courses/O/C/R/discussion"
        );
        // A CCX's unit is in the CCX.
        assert_eq!(
            legacy_spelling("/xblock/ccx-block-v1:O+C+R+ccx@3+type@vertical+block@u1"),
            "/courses/O/C/R.ccx3/jump_to/i4x://O/C/vertical/u1"
        );
        // Studio's pages, handlers and a library's blocks stay what they were.
        assert_eq!(
            legacy_spelling(&format!("https://studio.x.org/course/course-v1:{k}")),
            "https://studio.x.org/course/O/C/R"
        );
        assert_eq!(
            legacy_spelling(&format!("/xblock/container/{unit}")),
            "/xblock/container/i4x://O/C/vertical/u1"
        );
        assert_eq!(
            legacy_spelling(&format!("/xblock/{unit}/container_preview")),
            "/xblock/i4x://O/C/vertical/u1/container_preview"
        );
        assert_eq!(
            legacy_spelling("/xblock/lib-block-v1:O+L+type@problem+block@p"),
            "/xblock/i4x://O/L/problem/p"
        );
        assert_eq!(
            legacy_spelling(&format!("/course-authoring/course/course-v1:{k}/pages")),
            "/course-authoring/course/O/C/R/pages"
        );
        // The course they name.
        assert_eq!(
            course_of(&format!(
                "https://lms.x.org/xblock/{unit}?view=student_view"
            ))
            .as_deref(),
            Some("O/C/R")
        );
        assert_eq!(
            course_of(&format!(
                "https://apps.x.org/learning/course/course-v1:{k}/home"
            ))
            .as_deref(),
            Some("O/C/R")
        );
    }

    #[test]
    fn courses_in_every_form() {
        let c = |s| course_of(s);
        assert_eq!(c("course-v1:O+C+R").as_deref(), Some("O/C/R"));
        assert_eq!(c("O/C/R").as_deref(), Some("O/C/R"));
        assert_eq!(
            c("https://h/courses/course-v1:O+C+R/courseware/").as_deref(),
            Some("O/C/R")
        );
        assert_eq!(c("/courses/O/C/R/info").as_deref(), Some("O/C/R"));
        assert_eq!(c("/dashboard"), None);
        assert_eq!(c("x_module"), None);
        assert_eq!(c("/courses/O/C"), None);
        assert_eq!(c(""), None);
    }
}

//! qpipe's `CourseURL`: the normal form of a page URL that `urls` and `resources` are keyed by
//! (`shared/spec/legacy-pipeline.md` §4.5), with the courseware position (unit, sub-unit,
//! sequence number) that location inheritance works on. A URL that holds opaque keys
//! (`course-v1:`, `block-v1:`, …) keeps them whole in `urls` and names its resource in their
//! legacy spelling ([`super::course_key`]).

use std::borrow::Cow;
use std::sync::LazyLock;

use super::course_key;
use super::module_uri::ModuleUri;

use regex::Regex;

static DOUBLE_SLASH: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"([^:])//.*$").unwrap());
static PARAMETERS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(undefined)?\?.*$").unwrap());
static ANCHOR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[#+;$\[].*$").unwrap());
static MODULE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(answer|solution)[^/]*$").unwrap());
static COURSEWARE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"courseware/(?P<unit>[^/]+)?/?(?P<subunit>[^/]+)?/?(?P<seq>\d{1,2})?").unwrap()
});

/// A normalised course URL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CourseUrl {
    url: String,
    /// The URL with its opaque keys in the legacy spelling, when it has any: the resource's URI.
    resource: Option<String>,
    unit: Option<String>,
    subunit: Option<String>,
    seq: Option<String>,
    /// Whether the page shows one block of the courseware: a unit of the Learning MFE or the
    /// frame that renders it, named by the legacy address of a block (`…/jump_to/<usage>`).
    block_page: bool,
}

impl CourseUrl {
    /// Normalises a page URL as qpipe does: fragments, query strings and answer segments removed,
    /// a trailing `/`, relative URLs prefixed with the course `domain` (and put at sequence
    /// position 1 when at sub-unit level). Text that is not a URL (`x_module`, empty) gives the
    /// empty URL.
    pub fn parse(page: &str, domain: &str) -> CourseUrl {
        let s = page.trim();
        if !(s.starts_with('/') || s.starts_with("http")) {
            return CourseUrl::default();
        }
        let (url, relative) = normal_form(&course_key::mask_key_separators(s), domain);
        let url = course_key::unmask_key_separators(url);
        // The resource: the page on the site's domain, whatever host it was logged under (a
        // site is reached by its name, its address, an old name), keys respelled.
        let moved = path_on_other_host(s, domain);
        let legacy = course_key::legacy_spelling(moved.unwrap_or(s));
        let resource = (moved.is_some() || matches!(legacy, Cow::Owned(_)))
            .then(|| normal_form(&legacy, domain).0);
        let block_page = resource
            .as_deref()
            .unwrap_or(&url)
            .contains("/jump_to/i4x://");
        let mut parsed = CourseUrl {
            url,
            resource,
            block_page,
            ..CourseUrl::default()
        };
        if parsed.url.contains("courseware")
            && let Some(c) = COURSEWARE.captures(&parsed.url)
        {
            let get = |n: &str| c.name(n).map(|m| m.as_str().to_string());
            let (unit, subunit, seq) = (get("unit"), get("subunit"), get("seq"));
            parsed.unit = unit;
            parsed.subunit = subunit;
            parsed.seq = seq;
        }
        if relative && parsed.at_subunit() && parsed.seq.is_none() {
            parsed.set_seq("1");
        }
        parsed
    }

    /// The URI of the page's resource: the URL with its opaque keys in the legacy spelling, and
    /// `_/` standing for an unknown position at sub-unit level.
    pub fn resource_uri(&self) -> String {
        let mut uri = String::new();
        self.push_resource_uri(&mut uri);
        uri
    }

    /// Appends [`CourseUrl::resource_uri`] to `out` (no allocation of its own: the MOOCdb stage
    /// builds it only for an event whose resource the page's cache entry does not know).
    pub fn push_resource_uri(&self, out: &mut String) {
        out.push_str(self.resource.as_deref().unwrap_or(&self.url));
        if self.at_subunit() && self.seq.is_none() {
            out.push_str("_/");
        }
    }

    /// The URL as kept internally (without the `_/` of an unknown position), from which
    /// [`CourseUrl::parse`] rebuilds the same value.
    pub fn raw(&self) -> &str {
        &self.url
    }

    /// Whether the URL is empty (not a URL).
    pub fn is_empty(&self) -> bool {
        self.url.is_empty()
    }

    /// Whether the URL points into a courseware sub-unit (`…/courseware/<unit>/<sub-unit>/`).
    pub fn at_subunit(&self) -> bool {
        self.unit.is_some() && self.subunit.is_some()
    }

    /// Whether the page is where the courseware showed what the user did next: a courseware
    /// sub-unit (qpipe's rule), or one block's page, which is where the Learning MFE shows a
    /// unit. A server event without a page (a graded `problem_check`) that follows within the
    /// hour happened there.
    pub fn in_courseware(&self) -> bool {
        self.at_subunit() || self.block_page
    }

    /// Whether the page is the page of `module` itself (`…/jump_to/<its location>/`): an event
    /// there that names the module is on the page's resource, not on a module below it.
    pub fn shows(&self, module: &ModuleUri) -> bool {
        if !self.block_page {
            return false;
        }
        let uri = self.resource.as_deref().unwrap_or(&self.url);
        let block = uri.rsplit("/jump_to/").next().unwrap_or_default();
        let block = block.strip_suffix('/').unwrap_or(block);
        block.strip_prefix(module.root()).is_some_and(|rest| {
            rest.strip_prefix(module.category.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|id| id == module.id)
        })
    }

    /// The sequence position, if the URL has one.
    pub fn seq(&self) -> Option<&str> {
        self.seq.as_deref()
    }

    /// Whether both URLs are in the same unit and sub-unit.
    pub fn same_subunit(&self, other: &CourseUrl) -> bool {
        self.at_subunit() && self.unit == other.unit && self.subunit == other.subunit
    }

    /// Sets the sequence position (`…/<sub-unit>/<seq>/`).
    pub fn set_seq(&mut self, seq: &str) {
        if let (Some(unit), Some(subunit)) = (&self.unit, &self.subunit) {
            // `courseware/<unit>/<sub-unit>/`, then the old position if there is one: the part
            // of the URL to find (navigation events call this often; no `format!`).
            let mut base = String::with_capacity(unit.len() + subunit.len() + 32);
            base.push_str("courseware/");
            base.push_str(unit);
            base.push('/');
            base.push_str(subunit);
            base.push('/');
            let prefix = base.len();
            if let Some(old) = &self.seq {
                base.push_str(old);
                base.push('/');
            }
            replace_position(&mut self.url, &base, prefix, seq);
            if let Some(resource) = &mut self.resource {
                replace_position(resource, &base, prefix, seq);
            }
        }
        self.seq = Some(seq.to_string());
    }
}

/// The path of absolute URL `url` when its scheme and host are not `domain`'s (`None` for a
/// relative URL, or when no domain is known).
fn path_on_other_host<'a>(url: &'a str, domain: &str) -> Option<&'a str> {
    let domain = domain.trim_end_matches('/');
    if domain.is_empty() || url.starts_with('/') {
        return None;
    }
    let host_start = url.find("://")? + 3;
    let path_start = url[host_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| host_start + i);
    if url[..path_start].eq_ignore_ascii_case(domain) {
        return None;
    }
    Some(match &url[path_start..] {
        "" => "/",
        path => path,
    })
}

/// qpipe's normal form of a URL (see [`CourseUrl::parse`]), and whether it was relative.
fn normal_form(s: &str, domain: &str) -> (String, bool) {
    let mut url = DOUBLE_SLASH.replace(s, "$1").into_owned();
    url = PARAMETERS.replace(&url, "").into_owned();
    url = ANCHOR.replace(&url, "").into_owned();
    url = MODULE.replace(&url, "").into_owned();
    if !url.ends_with('/') {
        url.push('/');
    }
    let relative = url.starts_with('/');
    if relative {
        url = format!("{}{}", domain.trim_end_matches('/'), url);
    }
    (url, relative)
}

/// Puts `seq` as the position after `base[..prefix]` (`courseware/<unit>/<sub-unit>/`) in `url`,
/// in place of the old position `base[prefix..]`.
fn replace_position(url: &mut String, base: &str, prefix: usize, seq: &str) {
    // `find(&base)`, looking only where `courseware/` is: building a general searcher for the
    // long `base` cost more than the search.
    static COURSEWARE: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new("courseware/"));
    let found = COURSEWARE
        .find_iter(url.as_bytes())
        .find(|&i| url[i..].starts_with(base));
    if let Some(i) = found {
        let at = i + prefix;
        url.replace_range(at..i + base.len(), "");
        url.insert(at, '/');
        url.insert_str(at, seq);
    }
}

impl std::fmt::Display for CourseUrl {
    /// The URL, with `_/` standing for an unknown position at sub-unit level.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)?;
        if self.at_subunit() && self.seq.is_none() {
            f.write_str("_/")?;
        }
        Ok(())
    }
}

/// The `scheme://host` part of an absolute URL.
pub fn domain_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url.trim()).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    let host = parsed.host_str()?;
    Some(match parsed.port() {
        Some(p) => format!("{}://{}:{}", parsed.scheme(), host, p),
        None => format!("{}://{}", parsed.scheme(), host),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "https://class.stanford.edu";

    fn n(page: &str) -> String {
        CourseUrl::parse(page, D).to_string()
    }

    #[test]
    fn qpipe_normal_forms() {
        assert_eq!(n("x_module"), "");
        assert_eq!(n(""), "");
        assert_eq!(
            n("https://class.stanford.edu/courses/A/B/C/info?x=1#top"),
            "https://class.stanford.edu/courses/A/B/C/info/"
        );
        assert_eq!(n("/dashboard"), "https://class.stanford.edu/dashboard/");
        assert_eq!(
            n("https://class.stanford.edu/courses/A/B/C/courseware/u1/s1/"),
            "https://class.stanford.edu/courses/A/B/C/courseware/u1/s1/_/"
        );
        assert_eq!(
            n("/courses/A/B/C/courseware/u1/s1/"),
            "https://class.stanford.edu/courses/A/B/C/courseware/u1/s1/1/"
        );
        assert_eq!(
            n("https://class.stanford.edu/courses/A/B/C/courseware/u1/s1/3/"),
            "https://class.stanford.edu/courses/A/B/C/courseware/u1/s1/3/"
        );
        assert_eq!(n("https://x.org/courses/A//B"), "https://x.org/courses/A/");
    }

    #[test]
    fn opaque_keys_stay_whole_and_name_the_resource_in_the_legacy_spelling() {
        let u = CourseUrl::parse(
            "/courses/course-v1:OpenCraft+PRDemo1+2016/courseware/f3/ec/?x=1",
            D,
        );
        assert_eq!(
            u.to_string(),
            "https://class.stanford.edu/courses/course-v1:OpenCraft+PRDemo1+2016/courseware/f3/ec/1/"
        );
        assert_eq!(
            u.resource_uri(),
            "https://class.stanford.edu/courses/OpenCraft/PRDemo1/2016/courseware/f3/ec/1/"
        );
        let mut u = CourseUrl::parse(
            "http://h.org/courses/course-v1:O+C+R/courseware/u1/s1/#x+y",
            D,
        );
        assert_eq!(
            u.to_string(),
            "http://h.org/courses/course-v1:O+C+R/courseware/u1/s1/_/"
        );
        assert_eq!(
            u.resource_uri(),
            "https://class.stanford.edu/courses/O/C/R/courseware/u1/s1/_/"
        );
        u.set_seq("3");
        assert_eq!(
            u.to_string(),
            "http://h.org/courses/course-v1:O+C+R/courseware/u1/s1/3/"
        );
        assert_eq!(
            u.resource_uri(),
            "https://class.stanford.edu/courses/O/C/R/courseware/u1/s1/3/"
        );
        // Two courses of one organisation are two resources.
        assert_ne!(
            CourseUrl::parse("/courses/course-v1:O+A+R/info", D).resource_uri(),
            CourseUrl::parse("/courses/course-v1:O+B+R/info", D).resource_uri()
        );
        // Legacy URLs are their own resource URI.
        let u = CourseUrl::parse("/courses/A/B/C/info", D);
        assert_eq!(u.resource_uri(), u.to_string());
    }

    #[test]
    fn one_page_under_two_host_names_is_one_resource() {
        let by_name = CourseUrl::parse("https://class.stanford.edu/courses/A/B/C/info", D);
        let by_address = CourseUrl::parse("http://171.64.1.2:8000/courses/A/B/C/info?x", D);
        assert_eq!(by_name.resource_uri(), by_address.resource_uri());
        assert_eq!(
            by_address.to_string(),
            "http://171.64.1.2:8000/courses/A/B/C/info/"
        );
        let home = CourseUrl::parse("http://old.example.org", D);
        assert_eq!(home.resource_uri(), "https://class.stanford.edu/");
        // Without a known domain, each URL keeps its host.
        let u = CourseUrl::parse("http://171.64.1.2/courses/A/B/C/info", "");
        assert_eq!(u.resource_uri(), "http://171.64.1.2/courses/A/B/C/info/");
    }

    #[test]
    fn a_unit_of_the_learning_mfe_is_in_the_courseware_under_any_host() {
        let unit = "block-v1:O+C+R+type@vertical+block@u1";
        let mfe = CourseUrl::parse(
            &format!(
                "https://apps.x.org/learning/course/course-v1:O+C+R/block-v1:O+C+R+type@sequential+block@s1/{unit}"
            ),
            D,
        );
        let frame = CourseUrl::parse(
            &format!("http://10.0.0.2/xblock/{unit}?show_title=0&view=student_view"),
            D,
        );
        let uri = "https://class.stanford.edu/courses/O/C/R/jump_to/i4x://O/C/vertical/u1/";
        assert_eq!(mfe.resource_uri(), uri);
        assert_eq!(frame.resource_uri(), uri);
        assert_eq!(frame.raw(), format!("http://10.0.0.2/xblock/{unit}/"));
        assert!(mfe.in_courseware() && frame.in_courseware());
        // Rebuilt from what the carried state keeps.
        assert!(CourseUrl::parse(frame.raw(), D).in_courseware());
        assert!(!CourseUrl::parse("/courses/O/C/R/info", D).in_courseware());
        assert!(CourseUrl::parse("/courses/O/C/R/courseware/u/s/", D).in_courseware());
        // The unit's page shows the unit, not the blocks in it or other units.
        let module = |key: &str| ModuleUri::parse(key).unwrap();
        assert!(frame.shows(&module(unit)));
        assert!(mfe.shows(&module("i4x://O/C/vertical/u1")));
        assert!(!frame.shows(&module("block-v1:O+C+R+type@problem+block@u1")));
        assert!(!frame.shows(&module("block-v1:O+C+R+type@vertical+block@u")));
        assert!(!frame.shows(&module("block-v1:O+D+R+type@vertical+block@u1")));
        let courseware = CourseUrl::parse("/courses/O/C/R/courseware/u/vertical/u1/", D);
        assert!(!courseware.shows(&module(unit)));
    }

    #[test]
    fn sequence_positions() {
        let mut u = CourseUrl::parse("https://x.org/courses/A/B/C/courseware/u1/s1/", D);
        assert!(u.at_subunit() && u.seq().is_none());
        u.set_seq("4");
        assert_eq!(
            u.to_string(),
            "https://x.org/courses/A/B/C/courseware/u1/s1/4/"
        );
        u.set_seq("2");
        assert_eq!(
            u.to_string(),
            "https://x.org/courses/A/B/C/courseware/u1/s1/2/"
        );
        let other = CourseUrl::parse("https://x.org/courses/A/B/C/courseware/u1/s1/7/", D);
        assert!(u.same_subunit(&other));
    }

    #[test]
    fn domains() {
        assert_eq!(
            domain_of("https://courses.example.org/courses/x").as_deref(),
            Some("https://courses.example.org")
        );
        assert_eq!(domain_of("/courses/x"), None);
    }
}

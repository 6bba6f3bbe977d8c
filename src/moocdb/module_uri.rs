//! qpipe's `ModuleURI`: the course module (problem, video, open-response question, …) an event
//! concerns, from its `i4x://` location, inline `i4x-Org-Course-category-id_2_1` input id, or
//! `block-v1:` usage key (`shared/spec/legacy-pipeline.md` §4.5).

use std::sync::LazyLock;

use regex::Regex;

static I4X: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?P<root>i4x:/{1,2}[^/]*/[^/]*/)(?P<category>[^/]+)/(?P<id>[^/]+)/?(?P<action>[a-z_]+)?/?$")
        .unwrap()
});
static INLINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"i4x-(?P<org>[^-]*)-(?P<course>[^-]*)-(?P<category>[^-]+)-(?P<id>.+)$").unwrap()
});
// `block-v1:O+C+R+type@T+block@N`, and the CCX (`ccx-block-v1:O+C+R+ccx@K+…`) and library
// (`lib-block-v1:O+L+…`) forms; a branch or version part may stand before the type.
static BLOCK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"block-v1:(?P<org>[^+/]+)\+(?P<course>[^+/]+)(?:\+[^+@/]+)?(?:\+(?:ccx|branch|version)@[^+/]+)*\+type@(?P<category>[^+/]+)\+block@(?P<id>[^/?#\s+]+)",
    )
    .unwrap()
});
// An id logged without its course: a bare block id (video ids), or an input id of a problem,
// `<block>_2_1` (answer and correctness ids), with `input_` before it in browser events.
static BARE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:input_)?(?P<id>[A-Za-z0-9][\w.~-]*)$").unwrap());
static CHOICE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"_?choice_\d{1,2} *$").unwrap());
static LEVELS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"((?:_\d{1,2})+)$").unwrap());
static HASH: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[0-9a-f]{32}").unwrap());

/// A parsed module location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleUri {
    root: String,
    /// The module category (`problem`, `video`, `videoalpha`, `combinedopenended`, …).
    pub category: String,
    /// The module id, with input sub-parts as path levels (`<id>/2/1`).
    pub id: String,
    /// The action of an `i4x://…/<action>` URL (`problem_check`, …).
    pub action: Option<String>,
}

impl ModuleUri {
    /// Parses a module location; `None` when the text names no module.
    pub fn parse(s: &str) -> Option<ModuleUri> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        if s.contains("i4x:") {
            let c = I4X.captures(s)?;
            let root = c["root"]
                .replace("i4x:/", "i4x://")
                .replace("i4x:///", "i4x://");
            return Some(ModuleUri {
                root,
                category: c["category"].to_string(),
                id: c["id"].to_string(),
                action: c.name("action").map(|a| a.as_str().to_string()),
            });
        }
        if let Some(c) = BLOCK.captures(s) {
            return Some(ModuleUri {
                root: format!("i4x://{}/{}/", &c["org"], &c["course"]),
                category: c["category"].to_string(),
                id: c["id"].to_string(),
                action: None,
            });
        }
        let c = INLINE.captures(s)?;
        let category = c["category"].to_string();
        let mut id = CHOICE.replace(&c["id"], "").into_owned();
        for cut in ["=", "%"] {
            if let Some(i) = id.find(cut) {
                id.truncate(i);
            }
        }
        id = id.replace("_dynamath", "");
        let mut id = id.trim_end_matches('_').to_string();
        if !category.starts_with("video")
            && let Some(m) = LEVELS.find(&id)
        {
            id = input_path(&id, m);
        }
        if id.is_empty() {
            return None;
        }
        Some(ModuleUri {
            root: format!("i4x://{}/{}/", &c["org"], &c["course"]),
            category,
            id,
            action: None,
        })
    }

    /// Parses a module location as [`ModuleUri::parse`] does, and also an id logged without its
    /// course, resolved against the event's course `Org/Course/Run`: a bare block id is a
    /// module of `category` (`video` for video ids), an input id `<block>_2_1` is an input of
    /// problem `<block>` (as `input_i4x-Org-Course-problem-<block>_2_1` is in legacy logs).
    pub fn parse_in(s: &str, course: Option<&str>, category: &str) -> Option<ModuleUri> {
        if let Some(m) = ModuleUri::parse(s) {
            return Some(m);
        }
        let mut levels = course?.split('/');
        let (org, course) = (levels.next()?, levels.next()?);
        // A browser form's text `input_<block>_2_1=value` names the input before its value.
        let s = s.trim();
        let s = s.split(['=', '&', '%']).next().unwrap_or(s);
        let bare = BARE.captures(s)?;
        let raw = CHOICE.replace(&bare["id"], "");
        let raw = raw.trim_end_matches('_');
        let root = format!("i4x://{org}/{course}/");
        if let Some(m) = LEVELS.find(raw).filter(|m| m.start() > 0) {
            return Some(ModuleUri {
                root,
                category: "problem".to_string(),
                id: input_path(raw, m),
                action: None,
            });
        }
        // A bare id with no input levels: only a block id proper (32 hex digits) or, for
        // videos, any id (imported courses keep their authors' names).
        (category.starts_with("video") || HASH.is_match(raw)).then(|| ModuleUri {
            root,
            category: category.to_string(),
            id: raw.to_string(),
            action: None,
        })
    }

    /// The full module URI, `i4x://Org/Course/<category>/<id>/`.
    pub fn uri(&self) -> String {
        let mut uri = self.root.clone();
        self.push_relative_uri(&mut uri);
        uri
    }

    /// The root of the URI, `i4x://Org/Course/`.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The URI without its root, `<category>/<id>/`.
    pub fn relative_uri(&self) -> String {
        let mut uri = String::new();
        self.push_relative_uri(&mut uri);
        uri
    }

    /// Appends [`ModuleUri::relative_uri`] to `out` (once per event: no `format!`).
    pub fn push_relative_uri(&self, out: &mut String) {
        out.reserve(self.category.len() + self.id.len() + 2);
        out.push_str(&self.category);
        out.push('/');
        out.push_str(&self.id);
        out.push('/');
    }

    /// A readable name: the id with `_` as spaces, unless it is an opaque 32-hex hash.
    pub fn name(&self) -> Option<String> {
        (!HASH.is_match(&self.id)).then(|| self.id.replace('_', " "))
    }
}

/// An input id with its levels as path levels: `<id>_2_1` → `<id>/2/1`, `levels` being where
/// [`LEVELS`] found `_2_1`.
fn input_path(id: &str, levels: regex::Match<'_>) -> String {
    let path = levels.as_str().trim_start_matches('_').replace('_', "/");
    format!("{}/{}", &id[..levels.start()], path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i4x_locations() {
        let m = ModuleUri::parse("i4x://Medicine/HRP258/problem/4cd4e0bb39af4d36ba54b1a677e350b4")
            .unwrap();
        assert_eq!(
            m.uri(),
            "i4x://Medicine/HRP258/problem/4cd4e0bb39af4d36ba54b1a677e350b4/"
        );
        assert_eq!(
            m.relative_uri(),
            "problem/4cd4e0bb39af4d36ba54b1a677e350b4/"
        );
        assert_eq!(m.name(), None);
        let m =
            ModuleUri::parse("/courses/A/B/C/modx/i4x://Medicine/HRP258/problem/abc/problem_check")
                .unwrap();
        assert_eq!(
            (m.category.as_str(), m.action.as_deref()),
            ("problem", Some("problem_check"))
        );
    }

    #[test]
    fn inline_input_ids() {
        let m = ModuleUri::parse(
            "input_i4x-Medicine-HRP258-problem-7451f8fe15a642e1820767db411a4a3e_2_1",
        )
        .unwrap();
        assert_eq!(
            m.uri(),
            "i4x://Medicine/HRP258/problem/7451f8fe15a642e1820767db411a4a3e/2/1/"
        );
        let m = ModuleUri::parse("i4x-MITx-6_002x-problem-H12P3_Opamps_10_1").unwrap();
        assert_eq!(m.uri(), "i4x://MITx/6_002x/problem/H12P3_Opamps/10/1/");
        assert_eq!(m.name().as_deref(), Some("H12P3 Opamps/10/1"));
        let m = ModuleUri::parse("input_i4x-A-B-problem-abc_2_1_choice_0").unwrap();
        assert_eq!(m.uri(), "i4x://A/B/problem/abc/2/1/");
        let m = ModuleUri::parse("input_i4x-A-B-problem-abc_2_1=2").unwrap();
        assert_eq!(m.uri(), "i4x://A/B/problem/abc/2/1/");
        let m = ModuleUri::parse("i4x-Medicine-HRP258-videoalpha-cb6076d965824dbcb6a3a4aa8c7a03af")
            .unwrap();
        assert_eq!(
            m.uri(),
            "i4x://Medicine/HRP258/videoalpha/cb6076d965824dbcb6a3a4aa8c7a03af/"
        );
    }

    #[test]
    fn block_v1_usage_keys() {
        let m = ModuleUri::parse("block-v1:DemoX+Loader201+2026_T1+type@problem+block@0123abcd")
            .unwrap();
        assert_eq!(m.uri(), "i4x://DemoX/Loader201/problem/0123abcd/");
        let m = ModuleUri::parse("ccx-block-v1:O+C+R+ccx@3+type@video+block@v1").unwrap();
        assert_eq!(m.uri(), "i4x://O/C/video/v1/");
        let m = ModuleUri::parse("lib-block-v1:O+Lib+type@problem+block@p1").unwrap();
        assert_eq!(m.uri(), "i4x://O/Lib/problem/p1/");
        assert_eq!(ModuleUri::parse("plain text"), None);
        assert_eq!(ModuleUri::parse(""), None);
    }

    #[test]
    fn ids_without_their_course() {
        let course = Some("OpenCraft/PRDemo1/2016");
        let hex = "d2069c02adc347318bc6e022705f2346";
        let m = ModuleUri::parse_in(&format!("{hex}_2_1"), course, "problem").unwrap();
        assert_eq!(
            m.uri(),
            format!("i4x://OpenCraft/PRDemo1/problem/{hex}/2/1/")
        );
        let m = ModuleUri::parse_in(&format!("input_{hex}_2_1_choice_3"), course, "problem");
        assert_eq!(
            m.unwrap().uri(),
            format!("i4x://OpenCraft/PRDemo1/problem/{hex}/2/1/")
        );
        let m = ModuleUri::parse_in(hex, course, "video").unwrap();
        assert_eq!(m.uri(), format!("i4x://OpenCraft/PRDemo1/video/{hex}/"));
        let m = ModuleUri::parse_in("intro_video", course, "video").unwrap();
        assert_eq!(m.uri(), "i4x://OpenCraft/PRDemo1/video/intro_video/");
        let m = ModuleUri::parse_in(&format!("input_{hex}_2_1=2"), course, "problem").unwrap();
        assert_eq!(
            m.uri(),
            format!("i4x://OpenCraft/PRDemo1/problem/{hex}/2/1/")
        );
        let m = ModuleUri::parse_in(
            &format!("input_{hex}_2_1%5B%5D=choice_0"),
            course,
            "problem",
        );
        assert_eq!(
            m.unwrap().uri(),
            format!("i4x://OpenCraft/PRDemo1/problem/{hex}/2/1/")
        );
        // Not ids: words, and anything without a course.
        assert_eq!(ModuleUri::parse_in("hello", course, "problem"), None);
        assert_eq!(ModuleUri::parse_in("a b", course, "video"), None);
        assert_eq!(ModuleUri::parse_in(hex, None, "video"), None);
        // The legacy and modern spellings of one input name one problem part.
        assert_eq!(
            ModuleUri::parse_in(&format!("{hex}_2_1"), course, "problem"),
            ModuleUri::parse(&format!("input_i4x-OpenCraft-PRDemo1-problem-{hex}_2_1"))
        );
    }
}

//! The textual pipeline syntax: `pass{key=value,key=value},pass2,…`.
//!
//! Whitespace around names, keys and values is ignored; values run to the next `,` or `}`.
//! A pass may appear several times.

/// One pass of a pipeline with its `key=value` options, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassSpec {
    /// The pass name.
    pub name: String,
    /// The options as written.
    pub options: Vec<(String, String)>,
}

/// Parses a pipeline text.
pub fn parse_pipeline(text: &str) -> Result<Vec<PassSpec>, String> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    if rest.is_empty() {
        return Ok(out);
    }
    loop {
        let end = rest.find([',', '{']).unwrap_or(rest.len());
        let name = rest[..end].trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(format!("expected a pass name at `{rest}` in the pipeline `{text}`"));
        }
        rest = &rest[end..];
        let mut options = Vec::new();
        if let Some(body) = rest.strip_prefix('{') {
            let close =
                body.find('}').ok_or_else(|| format!("unclosed `{{` after `{name}` in the pipeline `{text}`"))?;
            let inner = &body[..close];
            if inner.contains('{') {
                return Err(format!("nested `{{` in the options of `{name}`"));
            }
            for item in inner.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (k, v) = item
                    .split_once('=')
                    .ok_or_else(|| format!("option `{item}` of `{name}` must be written `key=value`"))?;
                let (k, v) = (k.trim(), v.trim());
                if k.is_empty() || v.is_empty() {
                    return Err(format!("option `{item}` of `{name}` must be written `key=value`"));
                }
                if options.iter().any(|(ok, _): &(String, String)| ok == k) {
                    return Err(format!("option `{k}` of `{name}` is given twice"));
                }
                options.push((k.to_string(), v.to_string()));
            }
            rest = &body[close + 1..];
        }
        out.push(PassSpec { name: name.to_string(), options });
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        rest = rest
            .strip_prefix(',')
            .ok_or_else(|| format!("expected `,` between passes at `{rest}` in the pipeline `{text}`"))?
            .trim_start();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_options() {
        let p = parse_pipeline("calibrate{samples=256}, select-patterns{k=16,q=128 , seed=0},phi-split").unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0], PassSpec { name: "calibrate".into(), options: vec![("samples".into(), "256".into())] });
        assert_eq!(p[1].options.len(), 3);
        assert_eq!(p[1].options[1], ("q".into(), "128".into()));
        assert!(p[2].options.is_empty());
        assert!(parse_pipeline("").unwrap().is_empty());
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in ["a{b=1", "a{b}", "a,,b", "a b", "a{k=1,k=2}", "a{x={}}", "{k=1}", "a}"] {
            assert!(parse_pipeline(bad).is_err(), "{bad}");
        }
    }
}

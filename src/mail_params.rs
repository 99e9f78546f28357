//! What the sender asks of the relay for one message, typed: DSN's
//! `NOTIFY` and `RET` (RFC 3461) and the body type `BODY` (RFC 6152).
//!
//! Read from the command line (`-N`, `-R`, `-B`), kept in the queue's
//! metadata and written into MAIL FROM and RCPT TO. Each value is stored
//! and shown as the upper-case text its SMTP parameter carries
//! (`FAILURE,DELAY`, `HDRS`, `8BITMIME`): the queue's JSON holds exactly
//! that text, and reads it back whatever its case.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A value that is not one of its parameter's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    /// The SMTP parameter: `NOTIFY`, `RET` or `BODY`.
    pub parameter: &'static str,
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a {} value", self.parameter)
    }
}

impl std::error::Error for UnknownValue {}

/// When the server should report on a recipient (`NOTIFY=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Notify {
    Never,
    /// The conditions in the order the sender gave them (never empty).
    On(Vec<NotifyOn>),
}

/// One condition of `NOTIFY=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyOn {
    Success,
    Failure,
    Delay,
}

impl NotifyOn {
    fn keyword(self) -> &'static str {
        match self {
            NotifyOn::Success => "SUCCESS",
            NotifyOn::Failure => "FAILURE",
            NotifyOn::Delay => "DELAY",
        }
    }
}

impl FromStr for Notify {
    type Err = UnknownValue;

    /// `never`, or a comma-separated list of `success`, `failure`, `delay`
    /// (any case, blanks around each word allowed).
    fn from_str(v: &str) -> Result<Notify, UnknownValue> {
        let lower = v.to_ascii_lowercase();
        if lower == "never" {
            return Ok(Notify::Never);
        }
        let mut on = Vec::new();
        for item in lower.split(',') {
            on.push(match item.trim() {
                "success" => NotifyOn::Success,
                "failure" => NotifyOn::Failure,
                "delay" => NotifyOn::Delay,
                _ => {
                    return Err(UnknownValue {
                        parameter: "NOTIFY",
                    })
                }
            });
        }
        Ok(Notify::On(on))
    }
}

impl fmt::Display for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notify::Never => f.write_str("NEVER"),
            Notify::On(on) => {
                for (i, c) in on.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    f.write_str(c.keyword())?;
                }
                Ok(())
            }
        }
    }
}

/// An enum whose every value is one keyword of an SMTP parameter, read in
/// any case and shown in upper case.
macro_rules! keyword_enum {
    ($(#[$doc:meta])* $name:ident, $parameter:literal, { $($variant:ident = $keyword:literal),* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(into = "String", try_from = "String")]
        pub enum $name {
            $($variant),*
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            fn from_str(v: &str) -> Result<$name, UnknownValue> {
                $(if v.eq_ignore_ascii_case($keyword) {
                    return Ok($name::$variant);
                })*
                Err(UnknownValue { parameter: $parameter })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self {
                    $($name::$variant => $keyword),*
                })
            }
        }
    };
}

keyword_enum!(
    /// How much of the message a bounce should return (`RET=`).
    Ret, "RET", { Full = "FULL", Hdrs = "HDRS" }
);

keyword_enum!(
    /// The body type declared with `BODY=` (`-B`).
    BodyType, "BODY", { SevenBit = "7BIT", EightBitMime = "8BITMIME" }
);

/// The serde side: each value is its parameter's text.
macro_rules! as_text {
    ($($t:ty),*) => {$(
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.to_string()
            }
        }

        impl TryFrom<String> for $t {
            type Error = UnknownValue;

            fn try_from(v: String) -> Result<$t, UnknownValue> {
                v.parse()
            }
        }
    )*};
}

as_text!(Notify, Ret, BodyType);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_keeps_the_order_and_the_upper_case_text() {
        let n: Notify = " failure , Delay".parse().unwrap();
        assert_eq!(n, Notify::On(vec![NotifyOn::Failure, NotifyOn::Delay]));
        assert_eq!(n.to_string(), "FAILURE,DELAY");
        assert_eq!("NEVER".parse::<Notify>(), Ok(Notify::Never));
        assert_eq!("success".parse::<Notify>().unwrap().to_string(), "SUCCESS");
        for bad in ["", "sometimes", "never,failure", " never", "failure,"] {
            assert!(bad.parse::<Notify>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ret_and_body_type() {
        assert_eq!("Hdrs".parse::<Ret>(), Ok(Ret::Hdrs));
        assert_eq!(Ret::Full.to_string(), "FULL");
        assert!("some".parse::<Ret>().is_err());
        assert_eq!("8bitmime".parse::<BodyType>(), Ok(BodyType::EightBitMime));
        assert_eq!(BodyType::SevenBit.to_string(), "7BIT");
        assert!("BINARYMIME".parse::<BodyType>().is_err());
    }

    #[test]
    fn json_is_the_parameter_text() {
        let v = (
            Some(Notify::On(vec![NotifyOn::Failure, NotifyOn::Delay])),
            Some(Ret::Hdrs),
            Some(BodyType::EightBitMime),
        );
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(json, r#"["FAILURE,DELAY","HDRS","8BITMIME"]"#);
        let back: (Option<Notify>, Option<Ret>, Option<BodyType>) =
            serde_json::from_str(&json).unwrap();
        assert_eq!(back, v);
        assert!(serde_json::from_str::<Notify>(r#""maybe""#).is_err());
    }
}

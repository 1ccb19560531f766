//! The restaurants the voice waiter serves, and the checks a catalog must pass (where it is
//! read from, and its refresh, are in [`super::source`]).

use serde::{Deserialize, Serialize};

/// One dish.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct MenuItem {
    /// Its name, as the waiter and the cart say it.
    pub name: String,
    /// Its price.
    pub price: f64,
    /// A short description.
    #[serde(default)]
    pub description: String,
}

/// A restaurant and its menu.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Restaurant {
    /// The id clients pass as `restaurantId`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its menu.
    pub menu: Vec<MenuItem>,
}

/// Every restaurant.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Catalog {
    /// The restaurants.
    pub restaurants: Vec<Restaurant>,
}

/// The catalog file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// It cannot be read.
    #[error("cannot read the catalog {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// It is not a catalog.
    #[error("the catalog {path} is not valid: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// The sample catalog shipped with the server.
pub const SAMPLE: &str = include_str!("../catalog.sample.json");

impl Catalog {
    /// Parses a catalog; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Catalog, CatalogError> {
        let catalog: Catalog = serde_json::from_str(text).map_err(|e| CatalogError::Invalid {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let invalid = |reason: String| CatalogError::Invalid {
            path: path.to_owned(),
            reason,
        };
        if catalog.restaurants.is_empty() {
            return Err(invalid("it has no restaurants".into()));
        }
        let mut ids = std::collections::HashSet::new();
        for r in &catalog.restaurants {
            if r.id.trim().is_empty() || !ids.insert(r.id.as_str()) {
                return Err(invalid(format!(
                    "restaurant id {:?} is empty or repeated",
                    r.id
                )));
            }
            if r.menu.is_empty() {
                return Err(invalid(format!("restaurant {:?} has no menu", r.id)));
            }
            let mut names = std::collections::HashSet::new();
            for item in &r.menu {
                if item.name.trim().is_empty() || !names.insert(item.name.to_lowercase()) {
                    return Err(invalid(format!(
                        "restaurant {:?}: menu item {:?} is empty or repeated",
                        r.id, item.name
                    )));
                }
                if !item.price.is_finite() || item.price < 0.0 {
                    return Err(invalid(format!(
                        "restaurant {:?}: {:?} has price {}, not a price",
                        r.id, item.name, item.price
                    )));
                }
            }
        }
        Ok(catalog)
    }

    /// Loads a catalog file.
    pub fn load(path: &str) -> Result<Catalog, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
            path: path.to_owned(),
            source,
        })?;
        Catalog::parse(&text, path)
    }

    /// The sample catalog.
    pub fn sample() -> Catalog {
        Catalog::parse(SAMPLE, "catalog.sample.json").expect("the sample catalog is valid")
    }

    /// A restaurant by id.
    pub fn restaurant(&self, id: &str) -> Option<&Restaurant> {
        self.restaurants.iter().find(|r| r.id == id)
    }
}

impl Restaurant {
    /// The menu item a spoken name refers to (case and surrounding spaces ignored).
    pub fn item(&self, name: &str) -> Option<&MenuItem> {
        let wanted = name.trim().to_lowercase();
        self.menu.iter().find(|i| i.name.to_lowercase() == wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_catalogs_are_refused_with_the_reason() {
        let cases = [
            ("[]", "is not valid"),
            (r#"{"restaurants":[]}"#, "no restaurants"),
            (
                r#"{"restaurants":[{"id":"a","name":"A","menu":[]}]}"#,
                "has no menu",
            ),
            (
                r#"{"restaurants":[{"id":"a","name":"A","menu":[{"name":"x","price":1}]},{"id":"a","name":"B","menu":[{"name":"x","price":1}]}]}"#,
                "empty or repeated",
            ),
            (
                r#"{"restaurants":[{"id":"a","name":"A","menu":[{"name":"Tea","price":1},{"name":"tea","price":2}]}]}"#,
                "\"tea\" is empty or repeated",
            ),
            (
                r#"{"restaurants":[{"id":"a","name":"A","menu":[{"name":"x","price":-1}]}]}"#,
                "not a price",
            ),
        ];
        for (text, why) in cases {
            let e = Catalog::parse(text, "menus.json").unwrap_err().to_string();
            assert!(e.contains("menus.json") && e.contains(why), "{text}: {e}");
        }
        assert!(Catalog::parse(SAMPLE, "sample").is_ok());
    }
}

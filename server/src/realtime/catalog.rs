//! The restaurants the voice waiter serves, loaded from a JSON file at start.

use serde::Deserialize;

/// One dish.
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
pub const SAMPLE: &str = include_str!("../../catalog.sample.json");

impl Catalog {
    /// Parses a catalog; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Catalog, CatalogError> {
        let catalog: Catalog = serde_json::from_str(text).map_err(|e| CatalogError::Invalid {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let mut ids = std::collections::HashSet::new();
        for r in &catalog.restaurants {
            if r.id.is_empty() || !ids.insert(r.id.as_str()) {
                return Err(CatalogError::Invalid {
                    path: path.to_owned(),
                    reason: format!("restaurant id {:?} is empty or repeated", r.id),
                });
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

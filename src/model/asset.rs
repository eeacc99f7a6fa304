//! The asset hierarchy: site → area → line → machine, and fleet → vehicle.
//!
//! Sources are discovered from signal ids (DOMAIN §2): the prefix before a known metric is the source, its last
//! segment the machine or vehicle name, the segment before it the line (or fleet), and the first the site.

/// Where a machine sits in the plant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MachinePath {
    pub site: String,
    pub area: String,
    pub line: String,
    pub machine: String,
}

/// Where a vehicle sits in the fleet.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VehiclePath {
    pub fleet: String,
    pub vehicle: String,
}

fn segments(prefix: &str) -> Vec<&str> {
    let sep = if prefix.contains('/') { '/' } else { '.' };
    prefix.split(sep).filter(|s| !s.is_empty()).collect()
}

impl MachinePath {
    /// `PlantA/Line1/Filler` → site `PlantA`, line `Line1`, machine `Filler`; missing levels take `default_site`
    /// and a line named after the site. The area defaults to the site until config names one.
    pub fn from_prefix(prefix: &str, default_site: &str) -> Self {
        let segs = segments(prefix);
        let machine = segs.last().copied().unwrap_or(prefix).to_owned();
        let line = if segs.len() >= 2 { segs[segs.len() - 2] } else { default_site }.to_owned();
        let site = if segs.len() >= 3 { segs[0] } else { default_site }.to_owned();
        Self { area: site.clone(), site, line, machine }
    }
}

impl VehiclePath {
    /// `PlantA/Fleet/AGV-01` → fleet `Fleet`, vehicle `AGV-01`.
    pub fn from_prefix(prefix: &str) -> Self {
        let segs = segments(prefix);
        let vehicle = segs.last().copied().unwrap_or(prefix).to_owned();
        let fleet = if segs.len() >= 2 { segs[segs.len() - 2] } else { "Fleet" }.to_owned();
        Self { fleet, vehicle }
    }
}

/// Compares names the way people read them: digit runs as numbers, so `Line2` comes before `Line10`.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        let (Some(ca), Some(cb)) = (a.chars().next(), b.chars().next()) else { return a.len().cmp(&b.len()) };
        if ca.is_ascii_digit() && cb.is_ascii_digit() {
            let na = a.len() - a.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let nb = b.len() - b.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let (da, db) = (a[..na].trim_start_matches('0'), b[..nb].trim_start_matches('0'));
            let order = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
            if order != std::cmp::Ordering::Equal {
                return order;
            }
            (a, b) = (&a[na..], &b[nb..]);
        } else {
            if ca != cb {
                return ca.cmp(&cb);
            }
            (a, b) = (&a[ca.len_utf8()..], &b[cb.len_utf8()..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_reads_numbers_as_numbers() {
        let mut v = vec!["Line10", "Line2", "Line1", "Area B", "Line02x"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, vec!["Area B", "Line1", "Line2", "Line02x", "Line10"]);
    }

    #[test]
    fn sparkplug_prefix() {
        let p = MachinePath::from_prefix("PlantA/Line1/Filler", "Site");
        assert_eq!((p.site.as_str(), p.line.as_str(), p.machine.as_str()), ("PlantA", "Line1", "Filler"));
    }

    #[test]
    fn kepware_prefix_without_site() {
        let p = MachinePath::from_prefix("Line2.Capper", "Plant A");
        assert_eq!((p.site.as_str(), p.line.as_str(), p.machine.as_str()), ("Plant A", "Line2", "Capper"));
    }

    #[test]
    fn vehicle_prefix() {
        let v = VehiclePath::from_prefix("PlantA/Fleet/AGV-01");
        assert_eq!((v.fleet.as_str(), v.vehicle.as_str()), ("Fleet", "AGV-01"));
    }
}

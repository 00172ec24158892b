//! The synthetic insurers: numbers with valid check digits, names, and how each one numbers
//! its cards (記号・番号).

use crate::data::{
    COMPANY_INDUSTRIES, COMPANY_PREFIXES, MUNICIPALITIES, NATIONAL_MUTUAL, NHI_SOCIETIES,
    PREFECTURES,
};
use crate::rng::{Rng, Weighted};
use kakunin_domain::{check_digit, InsurerKind, InsurerNumber};
use std::collections::HashSet;
use std::fmt::Write;

/// The insurance a household belongs to, before a concrete insurer is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Kyokai,
    Society,
    Mutual,
    Seamen,
    Municipal,
    NhiSociety,
    Late,
}

impl Category {
    /// Employees' insurance (被用者保険), where family members are dependents (被扶養者).
    pub fn is_employee(self) -> bool {
        matches!(
            self,
            Self::Kyokai | Self::Society | Self::Mutual | Self::Seamen
        )
    }
}

/// How an insurer writes 記号 and 番号.
#[derive(Debug, Clone, Copy)]
pub enum Scheme {
    /// 協会けんぽ and 船員保険: a 7- or 8-digit 事業所記号, numbers counted within the
    /// establishment.
    Establishment,
    /// 健保組合 and 共済: a short numeric office symbol; numbers unique in the insurer.
    Office { offices: u64, width: usize },
    /// 市町村国保: district symbols in one of several styles (half-width, full-width digits,
    /// a kanji and digits); household numbers of `digits` digits.
    Municipal {
        style: u8,
        initial: char,
        digits: u32,
    },
    /// 国保組合: the kanji of its trade and a 2-digit 支部 code.
    NhiSociety { kanji: &'static str },
    /// 後期高齢者医療: no symbol, an 8-digit number with a check digit.
    Late,
}

/// One insurer and the roster it is accumulating.
pub struct Insurer {
    pub number: InsurerNumber,
    pub name: String,
    pub kind: InsurerKind,
    pub scheme: Scheme,
    /// CSV text, header first.
    pub buf: Vec<u8>,
    pub rows: u64,
    /// Cards (households) issued so far.
    issued: u64,
    salt: u64,
    establishments: u64,
    establishment_symbol: u64,
    establishment_left: u32,
    establishment_next: u32,
}

/// An injective map of `0..modulus` onto itself (7919 is prime and `modulus` has only the
/// factors 2, 3 and 5), so consecutive cards do not get consecutive numbers.
fn spread(i: u64, modulus: u64, salt: u64) -> u64 {
    (i % modulus * 7_919 + salt % modulus) % modulus
}

fn full_width_digits(out: &mut String, v: u64) {
    let mut tmp = String::new();
    let _ = write!(tmp, "{v}");
    out.extend(
        tmp.chars()
            .map(|c| char::from_u32(u32::from(c) + 0xFEE0).unwrap_or(c)),
    );
}

impl Insurer {
    fn new(body: &str, name: String, scheme: Scheme, salt: u64, header: &str) -> Self {
        let full = check_digit::complete(body).expect("insurer number body is digits");
        let number = InsurerNumber::parse(&full).expect("generated insurer numbers are valid");
        let kind = number.kind();
        let mut buf = Vec::with_capacity(4096);
        buf.extend_from_slice(header.as_bytes());
        Self {
            number,
            name,
            kind,
            scheme,
            buf,
            rows: 0,
            issued: 0,
            salt,
            establishments: 0,
            establishment_symbol: 0,
            establishment_left: 0,
            establishment_next: 1,
        }
    }

    /// Issues the 記号 and 番号 of a new card (a household), written into `sym` and `num`
    /// (`sym` stays empty for 後期高齢). Every call gives a key not issued before.
    pub fn next_card(&mut self, rng: &mut Rng, sym: &mut String, num: &mut String) {
        sym.clear();
        num.clear();
        let c = self.issued;
        self.issued += 1;
        match self.scheme {
            Scheme::Establishment => {
                if self.establishment_left == 0 {
                    let idx = self.establishments;
                    self.establishments += 1;
                    // 7 or 8 digits, alternately; each length has its own injective spread.
                    let half = idx / 2;
                    self.establishment_symbol = if idx % 2 == 1 && half < 9_000_000 {
                        1_000_000 + spread(half, 9_000_000, self.salt)
                    } else if idx % 2 == 0 && half < 90_000_000 {
                        10_000_000 + spread(half, 90_000_000, self.salt)
                    } else {
                        // Longer than any spread symbol, so still unique.
                        100_000_000 + idx
                    };
                    let r = rng.below(100);
                    let size = match r {
                        0..=44 => rng.between(1, 3),
                        45..=79 => rng.between(4, 15),
                        80..=94 => rng.between(16, 60),
                        _ => rng.between(61, 300),
                    };
                    self.establishment_left = size as u32;
                    self.establishment_next = 1;
                }
                self.establishment_left -= 1;
                let _ = write!(sym, "{}", self.establishment_symbol);
                let _ = write!(num, "{}", self.establishment_next);
                self.establishment_next += 1;
            }
            Scheme::Office { offices, width } => {
                let _ = write!(sym, "{:0width$}", 1 + rng.below(offices));
                let _ = write!(num, "{}", 10_001 + c);
            }
            Scheme::Municipal {
                style,
                initial,
                digits,
            } => {
                let district = 1 + rng.below(40);
                match style {
                    0 => {
                        let _ = write!(sym, "{district}");
                    }
                    1 => full_width_digits(sym, district),
                    2 => {
                        sym.push(initial);
                        let _ = write!(sym, "{district}");
                    }
                    _ => {
                        let _ = write!(sym, "{district:04}");
                    }
                }
                let span = 9 * 10u64.pow(digits - 1);
                let v = if c < span {
                    10u64.pow(digits - 1) + spread(c, span, self.salt)
                } else {
                    10u64.pow(digits) + c
                };
                let _ = write!(num, "{v}");
            }
            Scheme::NhiSociety { kanji } => {
                sym.push_str(kanji);
                let _ = write!(sym, "{:02}", 1 + rng.below(20));
                let _ = write!(num, "{}", 100_001 + c);
            }
            Scheme::Late => {
                assert!(
                    c < 9_000_000,
                    "more than 9 million 後期高齢 members in one prefecture"
                );
                let body = 1_000_000 + spread(c, 9_000_000, self.salt);
                let mut b = String::with_capacity(8);
                let _ = write!(b, "{body}");
                let digit = check_digit::compute(&b).unwrap_or(0);
                num.push_str(&b);
                num.push(char::from(b'0' + digit));
            }
        }
    }
}

/// Every insurer, and how a household's category and prefecture lead to one of them.
pub struct Registry {
    pub list: Vec<Insurer>,
    kyokai: Vec<usize>,
    seamen: usize,
    societies: Vec<usize>,
    society_weights: Weighted,
    national: Vec<usize>,
    national_weights: Weighted,
    /// Per prefecture: 地方職員, 公立学校, 市町村職員 (and 都職員 in Tokyo).
    local: Vec<Vec<usize>>,
    police: Vec<usize>,
    private_schools: usize,
    nhi_societies: Vec<usize>,
    nhi_society_weights: Weighted,
    municipal: Vec<(Vec<usize>, Weighted)>,
    late: Vec<usize>,
}

/// Extra weight of prefectures where large companies have their 健保組合.
fn society_prefecture_weight(pref: usize) -> u64 {
    1 + match pref {
        13 => 60,
        27 => 15,
        23 => 10,
        14 => 4,
        28 | 40 => 3,
        11 | 22 | 26 | 34 => 2,
        _ => 0,
    }
}

impl Registry {
    /// Builds the insurers; the number of 健康保険組合 grows with the population.
    pub fn new(people: u64, rng: &mut Rng, header: &str) -> Self {
        let mut list = Vec::new();
        let add =
            |list: &mut Vec<Insurer>, body: String, name: String, scheme: Scheme, rng: &mut Rng| {
                list.push(Insurer::new(&body, name, scheme, rng.next_u64(), header));
                list.len() - 1
            };

        let mut kyokai = Vec::with_capacity(47);
        for (i, (_, short, _)) in PREFECTURES.iter().enumerate() {
            let name = format!("全国健康保険協会{short}支部");
            kyokai.push(add(
                &mut list,
                format!("01{:02}001", i + 1),
                name,
                Scheme::Establishment,
                rng,
            ));
        }
        let seamen = add(
            &mut list,
            "0213001".into(),
            "全国健康保険協会船員保険部".into(),
            Scheme::Establishment,
            rng,
        );

        // 健康保険組合: synthetic company names, sorted by prefecture so numbers ascend.
        let count = (20 + people / 2_500).min(400) as usize;
        let pref_weights = Weighted::new((1..=47).map(society_prefecture_weight));
        let mut seen = HashSet::new();
        let mut planned: Vec<(usize, String)> = Vec::with_capacity(count);
        while planned.len() < count {
            let pref = pref_weights.pick(rng) + 1;
            let prefix = if rng.per_mille(150) {
                PREFECTURES[pref - 1].1
            } else {
                rng.pick(COMPANY_PREFIXES)
            };
            let name = format!("{prefix}{}健康保険組合", rng.pick(COMPANY_INDUSTRIES));
            if seen.insert(name.clone()) {
                planned.push((pref, name));
            }
        }
        planned.sort_by_key(|(pref, _)| *pref);
        let mut seq = [0u32; 48];
        let mut societies = Vec::with_capacity(count);
        for (pref, name) in planned {
            seq[pref] += 1;
            let scheme = Scheme::Office {
                offices: 1 + rng.below(60),
                width: 1 + rng.below(3) as usize,
            };
            societies.push(add(
                &mut list,
                format!("06{pref:02}{:03}", seq[pref]),
                name,
                scheme,
                rng,
            ));
        }
        // A Zipf-like spread: a few large company groups, many small ones. The size rank is a
        // permutation of the list order, so the large ones are spread across prefectures.
        let n = societies.len() as u64;
        let offset = rng.below(n);
        let society_weights =
            Weighted::new((0..n).map(|i| 1_000_000 / ((i * 7_919 + offset) % n + 3)));

        let mut national = Vec::new();
        for (i, (name, _)) in NATIONAL_MUTUAL.iter().enumerate() {
            let scheme = Scheme::Office {
                offices: 5 + rng.below(200),
                width: 4,
            };
            national.push(add(
                &mut list,
                format!("3113{:03}", i + 1),
                (*name).into(),
                scheme,
                rng,
            ));
        }
        let national_weights = Weighted::new(NATIONAL_MUTUAL.iter().map(|(_, w)| u64::from(*w)));

        let mut local = Vec::with_capacity(47);
        for (i, (full, _, _)) in PREFECTURES.iter().enumerate() {
            let p = i + 1;
            let mut names = vec![
                format!("地方職員共済組合{full}支部"),
                format!("公立学校共済組合{full}支部"),
                format!("{full}市町村職員共済組合"),
            ];
            if p == 13 {
                names.push("東京都職員共済組合".into());
            }
            let ids = names
                .into_iter()
                .enumerate()
                .map(|(k, name)| {
                    let scheme = Scheme::Office {
                        offices: 10 + rng.below(300),
                        width: 4,
                    };
                    add(
                        &mut list,
                        format!("32{p:02}{:03}", k + 1),
                        name,
                        scheme,
                        rng,
                    )
                })
                .collect();
            local.push(ids);
        }
        let mut police = Vec::with_capacity(47);
        for (i, (full, _, _)) in PREFECTURES.iter().enumerate() {
            let scheme = Scheme::Office {
                offices: 20 + rng.below(80),
                width: 3,
            };
            police.push(add(
                &mut list,
                format!("33{:02}001", i + 1),
                format!("警察共済組合{full}支部"),
                scheme,
                rng,
            ));
        }
        let private_schools = add(
            &mut list,
            "3413001".into(),
            "日本私立学校振興・共済事業団".into(),
            Scheme::Office {
                offices: 900,
                width: 5,
            },
            rng,
        );

        let mut nhi_seq = [0u32; 48];
        let mut nhi_societies = Vec::new();
        for (name, pref, _, kanji) in NHI_SOCIETIES {
            let p = usize::from(*pref);
            nhi_seq[p] += 1;
            let body = format!("{p:02}3{:02}", nhi_seq[p]);
            nhi_societies.push(add(
                &mut list,
                body,
                (*name).into(),
                Scheme::NhiSociety { kanji },
                rng,
            ));
        }
        let nhi_society_weights = Weighted::new(NHI_SOCIETIES.iter().map(|s| u64::from(s.2)));

        let mut municipal = Vec::with_capacity(47);
        for (i, cities) in MUNICIPALITIES.iter().enumerate() {
            let p = i + 1;
            let (full, _, _) = PREFECTURES[i];
            let mut ids = Vec::with_capacity(cities.len());
            for (k, city) in cities.iter().enumerate() {
                let scheme = Scheme::Municipal {
                    style: ((p + k) % 4) as u8,
                    initial: city.chars().next().unwrap_or('市'),
                    digits: 6 + ((p + k) % 3) as u32,
                };
                // The third digit is never 3: 6-digit numbers with 3xx belong to 国保組合.
                let body = format!("{p:02}1{:02}", k + 1);
                ids.push(add(
                    &mut list,
                    body,
                    format!("{full}{city}国民健康保険"),
                    scheme,
                    rng,
                ));
            }
            let weights = Weighted::new((0..cities.len() as u64).map(|k| 60 / (k + 1)));
            municipal.push((ids, weights));
        }

        let mut late = Vec::with_capacity(47);
        for (i, (full, _, _)) in PREFECTURES.iter().enumerate() {
            let name = format!("{full}後期高齢者医療広域連合");
            late.push(add(
                &mut list,
                format!("39{:02}001", i + 1),
                name,
                Scheme::Late,
                rng,
            ));
        }

        Self {
            list,
            kyokai,
            seamen,
            societies,
            society_weights,
            national,
            national_weights,
            local,
            police,
            private_schools,
            nhi_societies,
            nhi_society_weights,
            municipal,
            late,
        }
    }

    /// The insurer of a household of `category` living in prefecture index `pref` (0-based).
    pub fn pick(&self, category: Category, pref: usize, rng: &mut Rng) -> usize {
        match category {
            Category::Kyokai => self.kyokai[pref],
            Category::Seamen => self.seamen,
            Category::Society => self.societies[self.society_weights.pick(rng)],
            Category::Mutual => match rng.below(100) {
                0..=26 => self.national[self.national_weights.pick(rng)],
                27..=81 => {
                    let ids = &self.local[pref];
                    let w: &[u64] = if ids.len() == 4 {
                        &[15, 35, 20, 30]
                    } else {
                        &[20, 45, 35]
                    };
                    let total: u64 = w.iter().sum();
                    let mut r = rng.below(total);
                    let mut k = 0;
                    while r >= w[k] {
                        r -= w[k];
                        k += 1;
                    }
                    ids[k]
                }
                82..=87 => self.police[pref],
                _ => self.private_schools,
            },
            Category::Municipal => {
                let (ids, w) = &self.municipal[pref];
                ids[w.pick(rng)]
            }
            Category::NhiSociety => self.nhi_societies[self.nhi_society_weights.pick(rng)],
            Category::Late => self.late[pref],
        }
    }

    /// A 協会けんぽ branch other than `not`, for a previous employer.
    pub fn other_kyokai(&self, pref: usize, not: usize) -> usize {
        let a = self.kyokai[(pref + 1) % 47];
        if a == not {
            self.kyokai[(pref + 2) % 47]
        } else {
            a
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_injective() {
        let mut seen = HashSet::new();
        for i in 0..90_000 {
            assert!(seen.insert(spread(i, 90_000, 12_345)));
        }
    }

    #[test]
    fn kinds_follow_numbers() {
        let mut rng = Rng::new(1);
        let reg = Registry::new(10_000, &mut rng, "h\n");
        let kinds: HashSet<_> = reg.list.iter().map(|i| i.kind).collect();
        for k in [
            InsurerKind::Kyokai,
            InsurerKind::Seamen,
            InsurerKind::HealthInsuranceSociety,
            InsurerKind::NationalPublicServants,
            InsurerKind::LocalPublicServants,
            InsurerKind::Police,
            InsurerKind::PrivateSchools,
            InsurerKind::MunicipalNhi,
            InsurerKind::NhiSociety,
            InsurerKind::LateElderly,
        ] {
            assert!(kinds.contains(&k), "{k:?}");
        }
        let numbers: HashSet<_> = reg.list.iter().map(|i| i.number.clone()).collect();
        assert_eq!(numbers.len(), reg.list.len());
        for &m in reg.municipal.iter().flat_map(|(ids, _)| ids) {
            assert_eq!(reg.list[m].kind, InsurerKind::MunicipalNhi);
        }
        for &m in &reg.nhi_societies {
            assert_eq!(reg.list[m].kind, InsurerKind::NhiSociety);
        }
        assert!(reg.societies.len() >= 20);
    }
}

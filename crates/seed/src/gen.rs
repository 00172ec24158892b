//! The population: people drawn from the age pyramid, grouped into households, each
//! household insured somewhere, every qualification written as a roster row.
//!
//! The ages of all people are fixed first (the pyramid, scaled to the requested size), then
//! households are built by drawing people out of that pool: a child draws parents of a
//! plausible age, an adult may draw a spouse. So the pyramid is met exactly while families
//! look natural. Everyone aged 75 and over is insured alone by the 後期高齢者医療広域連合.

use crate::csv::{self, Elderly, Limit, Row, Specific};
use crate::data::{self, PREFECTURES, PYRAMID};
use crate::insurers::{Category, Insurer, Registry};
use crate::rng::{Rng, Weighted};
use crate::{SamplePerson, SeedConfig};
use kakunin_domain::{copay, text, Date, InsurerKind, Validity};
use std::rc::Rc;

const AGES: usize = PYRAMID.len();
/// The oldest age in a household; 75 and over are 後期高齢 individuals.
const HOUSEHOLD_MAX_AGE: u32 = 74;

/// Kanji and half-width kana of the name tables.
struct Names {
    family: Vec<(&'static str, String)>,
    family_weights: Weighted,
    /// `[sex - 1][generation]`.
    given: [Vec<Vec<(&'static str, String)>>; 2],
}

fn kana(full: &str) -> String {
    text::half_width_kana(full).expect("name tables hold katakana")
}

impl Names {
    fn new() -> Self {
        let mut family = Vec::new();
        let mut weights = Vec::new();
        for (k, r, w) in data::FAMILY_TOP.iter().chain(data::FAMILY_VARIANTS) {
            family.push((*k, kana(r)));
            weights.push(u64::from(*w));
        }
        let tail = data::FAMILY_TAIL.len() as u64;
        for (i, (k, r)) in data::FAMILY_TAIL.iter().enumerate() {
            family.push((*k, kana(r)));
            weights.push(190 - 130 * i as u64 / tail);
        }
        let table = |t: &[&[(&'static str, &str)]; 6]| -> Vec<Vec<(&'static str, String)>> {
            t.iter()
                .map(|g| g.iter().map(|(k, r)| (*k, kana(r))).collect())
                .collect()
        };
        Self {
            family,
            family_weights: Weighted::new(weights),
            given: [table(&data::GIVEN_MALE), table(&data::GIVEN_FEMALE)],
        }
    }

    fn given(&self, p: &Person) -> (&'static str, &str) {
        let g = &self.given[usize::from(p.sex - 1)][data::generation(p.birth.year())]
            [usize::from(p.given)];
        (g.0, &g.1)
    }
}

#[derive(Debug, Clone, Copy)]
struct Person {
    age: u32,
    birth: Date,
    /// 1 男, 2 女.
    sex: u8,
    given: u16,
}

/// Sample slots, in the order the samples are reported.
mod slot {
    pub const KYOKAI: usize = 0;
    pub const KYOKAI_CHILD: usize = 1;
    pub const SOCIETY: usize = 2;
    pub const SOCIETY_ADULT_DEPENDENT: usize = 3;
    pub const NATIONAL: usize = 4;
    pub const LOCAL: usize = 5;
    pub const POLICE_SCHOOL: usize = 6;
    pub const SEAMEN: usize = 7;
    pub const MUNICIPAL: usize = 8;
    pub const MUNICIPAL_WIDE: usize = 9;
    pub const NHI_SOCIETY: usize = 10;
    pub const LATE_10: usize = 11;
    pub const LATE_30: usize = 12;
    pub const ELDERLY: usize = 13;
    pub const PRESCHOOL: usize = 14;
    pub const LIMIT: usize = 15;
    pub const SPECIFIC: usize = 16;
    pub const JOB_NEW: usize = 17;
    pub const JOB_OLD: usize = 18;
    pub const LOST: usize = 19;
    pub const DEATH: usize = 20;
    pub const COUNT: usize = 21;
}

/// What makes a row interesting as a sample.
#[derive(Debug, Clone, Copy, Default)]
struct Tags {
    job_new: bool,
    job_old: bool,
    lost_only: bool,
    death: bool,
}

pub struct Output {
    pub samples: Vec<SamplePerson>,
    /// Insurers that had at least one row.
    pub insurers: u64,
}

/// One roster file handed over: part or all of one insurer's rows, header first.
pub struct Chunk<'a> {
    pub insurer: &'a Insurer,
    pub rows: u64,
    pub csv: Vec<u8>,
}

/// When the rosters are handed over: an insurer's file when it reaches `rows`, and the
/// largest file whenever all of them together hold more than `bytes` (so a national
/// population never sits in memory at once).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub rows: u64,
    pub bytes: usize,
}

pub struct Generator {
    rng: Rng,
    as_of: Date,
    today: i64,
    names: Rc<Names>,
    reg: Registry,
    pref_weights: Weighted,
    counts: [u64; AGES],
    remaining: u64,
    slots: Vec<Option<SamplePerson>>,
    sym: String,
    num: String,
    /// 後期高齢 cards and certificates run 1 August – 31 July.
    year_aug: (i64, i64),
    /// 国保 cards run 1 October – 30 September.
    year_oct: (i64, i64),
    /// The day 後期高齢者医療 started (2008-04-01), or `as_of` if earlier.
    late_start: i64,
    header: String,
    /// Insurers whose roster reached `Limits::rows`, in the order they did.
    full: Vec<usize>,
    /// CSV bytes held in all the rosters (headers not counted).
    buffered: usize,
    limits: Limits,
    /// Insurers that have had a row.
    used: Vec<bool>,
}

fn days(d: Date) -> i64 {
    d.to_days()
}

fn date(days: i64) -> Date {
    Date::from_days(days).expect("generated dates are in range")
}

fn ymd(y: u32, m: u32, d: u32) -> Date {
    Date::from_ymd(y, m, d)
        .or_else(|_| Date::from_ymd(y, m, 28))
        .expect("valid calendar date")
}

/// The yearly period starting on the 1st of `month` that contains `on`.
fn period(on: Date, month: u32) -> (i64, i64) {
    let y = if on.month() >= month {
        on.year()
    } else {
        on.year() - 1
    };
    let start = ymd(y, month, 1);
    let end = ymd(y + 1, month, 1);
    (days(start), days(end) - 1)
}

/// The first 31 July on or after `d`.
fn next_july_end(d: i64) -> i64 {
    let dd = date(d);
    let y = if (dd.month(), dd.day()) <= (7, 31) {
        dd.year()
    } else {
        dd.year() + 1
    };
    days(ymd(y, 7, 31))
}

fn first_of_month(d: i64) -> i64 {
    let dd = date(d);
    days(ymd(dd.year(), dd.month(), 1))
}

/// Scales the pyramid to exactly `people` persons (largest remainders).
fn age_counts(people: u64) -> [u64; AGES] {
    let total: u64 = PYRAMID.iter().map(|&w| u64::from(w)).sum();
    let mut counts = [0u64; AGES];
    let mut rest: Vec<(u64, usize)> = Vec::with_capacity(AGES);
    let mut assigned = 0;
    for (i, &w) in PYRAMID.iter().enumerate() {
        let exact = u128::from(people) * u128::from(w);
        counts[i] = (exact / u128::from(total)) as u64;
        assigned += counts[i];
        rest.push(((exact % u128::from(total)) as u64, i));
    }
    rest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in rest.iter().take((people - assigned) as usize) {
        counts[i] += 1;
    }
    counts
}

impl Generator {
    pub fn new(config: &SeedConfig, limits: Limits) -> Self {
        let mut rng = Rng::new(config.rng_seed);
        let header = csv::header();
        let reg = Registry::new(config.people, &mut rng, &header);
        let used = vec![false; reg.list.len()];
        let as_of = config.as_of;
        let today = days(as_of);
        Self {
            rng,
            as_of,
            today,
            names: Rc::new(Names::new()),
            reg,
            pref_weights: Weighted::new(PREFECTURES.iter().map(|p| u64::from(p.2))),
            counts: age_counts(config.people),
            remaining: config.people,
            slots: vec![None; slot::COUNT],
            sym: String::new(),
            num: String::new(),
            year_aug: period(as_of, 8),
            year_oct: period(as_of, 10),
            late_start: today.min(days(ymd(2008, 4, 1))),
            header,
            full: Vec::new(),
            buffered: 0,
            limits,
            used,
        }
    }

    /// Generates everyone, handing each roster file to `sink` as soon as it is due (see
    /// [`Limits`]) and the rest at the end in the registry's order. Stops at the first error
    /// of `sink`.
    pub fn run<E>(mut self, mut sink: impl FnMut(Chunk<'_>) -> Result<(), E>) -> Result<Output, E> {
        self.forced_household();
        loop {
            for ins in std::mem::take(&mut self.full) {
                self.hand_over(ins, &mut sink)?;
            }
            while self.buffered > self.limits.bytes {
                let largest = (0..self.reg.list.len())
                    .max_by_key(|&i| (self.reg.list[i].buf.len(), std::cmp::Reverse(i)))
                    .expect("at least one insurer");
                self.hand_over(largest, &mut sink)?;
            }
            if self.remaining == 0 {
                break;
            }
            let age = self.draw_any();
            match age {
                75.. => self.late_person(age),
                0..=17 => self.family_from_child(age),
                18..=22 if self.rng.per_mille(550) => self.family_from_child(age),
                _ => self.adult_household(age, None, true),
            }
        }
        for ins in 0..self.reg.list.len() {
            self.hand_over(ins, &mut sink)?;
        }
        Ok(Output {
            samples: self.slots.into_iter().flatten().collect(),
            insurers: self.used.iter().filter(|u| **u).count() as u64,
        })
    }

    /// Hands insurer `ins`'s rows so far to `sink` (nothing when it has none) and starts its
    /// next file.
    fn hand_over<E>(
        &mut self,
        ins: usize,
        sink: &mut impl FnMut(Chunk<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let insurer = &mut self.reg.list[ins];
        if insurer.rows == 0 {
            return Ok(());
        }
        let mut next = Vec::with_capacity(4096);
        next.extend_from_slice(self.header.as_bytes());
        let csv = std::mem::replace(&mut insurer.buf, next);
        let rows = std::mem::take(&mut insurer.rows);
        self.buffered -= csv.len() - self.header.len();
        sink(Chunk {
            insurer: &self.reg.list[ins],
            rows,
            csv,
        })
    }

    // ---- drawing people out of the pool -------------------------------------------------

    /// Any remaining person's age, in proportion to what remains.
    fn draw_any(&mut self) -> u32 {
        let mut r = self.rng.below(self.remaining);
        for (age, c) in self.counts.iter_mut().enumerate() {
            if r < *c {
                *c -= 1;
                self.remaining -= 1;
                return age as u32;
            }
            r -= *c;
        }
        unreachable!("remaining matches the counts")
    }

    /// A remaining person aged `lo..=hi`, as close to `target` as possible.
    fn take_near(&mut self, target: i64, lo: u32, hi: u32) -> Option<u32> {
        if lo > hi {
            return None;
        }
        let t = target.clamp(i64::from(lo), i64::from(hi));
        let span = i64::from(hi - lo);
        for d in 0..=span {
            for a in [t + d, t - d] {
                if a >= i64::from(lo) && a <= i64::from(hi) && self.counts[a as usize] > 0 {
                    self.counts[a as usize] -= 1;
                    self.remaining -= 1;
                    return Some(a as u32);
                }
            }
        }
        None
    }

    fn sex_for(&mut self, age: u32) -> u8 {
        if self.rng.below(1000) < data::female_per_mille(age) {
            2
        } else {
            1
        }
    }

    /// A birth date giving exactly `age` on `as_of` (100 stands for 100–104).
    fn person(&mut self, age: u32, sex: u8) -> Person {
        let age = if age >= 100 {
            age + self.rng.below(5) as u32
        } else {
            age
        };
        let (y, m, d) = (self.as_of.year(), self.as_of.month(), self.as_of.day());
        let end = days(ymd(y - age, m, d));
        let start = days(ymd(y - age - 1, m, d));
        let birth = date(start + 1 + self.rng.below((end - start) as u64) as i64);
        debug_assert_eq!(birth.age_on(self.as_of), age);
        let list = &self.names.given[usize::from(sex - 1)][data::generation(birth.year())];
        let given = self.rng.below(list.len() as u64) as u16;
        Person {
            age: birth.age_on(self.as_of),
            birth,
            sex,
            given,
        }
    }

    // ---- households -------------------------------------------------------------------

    /// The first household is a 協会けんぽ employee of working age, valid on `as_of`, so
    /// that the first sample is always one.
    fn forced_household(&mut self) {
        if self.remaining == 0 {
            return;
        }
        let target = 40 + self.rng.below(15) as i64;
        if let Some(age) = self
            .take_near(target, 30, 59)
            .or_else(|| self.take_near(target, 18, HOUSEHOLD_MAX_AGE))
        {
            self.adult_household(age, Some(Category::Kyokai), false);
        }
    }

    fn adult_household(&mut self, age: u32, forced: Option<Category>, events: bool) {
        let couple = match age {
            0..=24 => 100,
            25..=34 => 450,
            35..=64 => 620,
            _ => 700,
        };
        let spouse = if self.rng.per_mille(couple) {
            let target = i64::from(age) + self.rng.between(-4, 4);
            self.take_near(target, 18, HOUSEHOLD_MAX_AGE)
        } else {
            None
        };
        let head_sex = match spouse {
            Some(_) if self.rng.per_mille(800) => 1,
            Some(_) => 2,
            None => self.sex_for(age),
        };
        let mut members = vec![(age, head_sex)];
        if let Some(s) = spouse {
            members.push((s, 3 - head_sex));
        }
        self.household(&members, spouse.is_some(), forced, events);
    }

    fn family_from_child(&mut self, child: u32) {
        let c = i64::from(child);
        let target = c + self.rng.between(22, 40);
        let parent = self.take_near(
            target,
            (child + 18).max(18),
            (child + 50).min(HOUSEHOLD_MAX_AGE),
        );
        let Some(parent) = parent else {
            // No parent left in the pool: the child is insured alone (e.g. living with
            // grandparents), by the municipality.
            let sex = if self.rng.per_mille(512) { 1 } else { 2 };
            self.household(&[(child, sex)], false, Some(Category::Municipal), true);
            return;
        };
        let spouse = if self.rng.per_mille(880) {
            let target = i64::from(parent) + self.rng.between(-3, 4);
            self.take_near(target, (child + 16).max(18), HOUSEHOLD_MAX_AGE)
        } else {
            None
        };
        let siblings = match self.rng.below(100) {
            0..=29 => 0,
            30..=74 => 1,
            75..=92 => 2,
            _ => 3,
        };
        let mut children = vec![child];
        let sib_hi = parent.saturating_sub(18).min(22);
        for _ in 0..siblings {
            let target = c + self.rng.between(-6, 6);
            if let Some(s) = self.take_near(target, 0, sib_hi) {
                children.push(s);
            }
        }
        children.sort_unstable_by(|a, b| b.cmp(a));
        let head_sex = match spouse {
            Some(_) if self.rng.per_mille(850) => 1,
            Some(_) => 2,
            None if self.rng.per_mille(800) => 2,
            None => 1,
        };
        let mut members = vec![(parent, head_sex)];
        if let Some(s) = spouse {
            members.push((s, 3 - head_sex));
        }
        for a in children {
            let sex = if self.rng.per_mille(512) { 1 } else { 2 };
            members.push((a, sex));
        }
        self.household(&members, spouse.is_some(), None, true);
    }

    /// The insurance of a household whose head is `age`.
    fn choose_category(&mut self, age: u32) -> Category {
        // Per mille in 国保: self-employed and part-time workers, then most of the retired.
        let nhi = match age {
            0..=22 => 220,
            23..=59 => 125,
            60..=64 => 330,
            65..=69 => 700,
            _ => 820,
        };
        if self.rng.per_mille(nhi) {
            let society = if age < 65 { 120 } else { 40 };
            return if self.rng.per_mille(society) {
                Category::NhiSociety
            } else {
                Category::Municipal
            };
        }
        self.employee_category()
    }

    fn employee_category(&mut self) -> Category {
        match self.rng.below(6_112) {
            0..=3_199 => Category::Kyokai,
            3_200..=5_399 => Category::Society,
            5_400..=6_099 => Category::Mutual,
            _ => Category::Seamen,
        }
    }

    /// `members`: (age, sex), head first, then the spouse if `has_spouse`, then children.
    /// `forced` fixes the category; without `events` the head neither changes jobs nor loses
    /// the qualification.
    fn household(
        &mut self,
        members: &[(u32, u8)],
        has_spouse: bool,
        forced: Option<Category>,
        events: bool,
    ) {
        let pref = self.pref_weights.pick(&mut self.rng);
        let family = self.names.family_weights.pick(&mut self.rng);
        let mut persons: Vec<Person> = members.iter().map(|&(a, s)| self.person(a, s)).collect();
        let category = forced.unwrap_or_else(|| self.choose_category(persons[0].age));
        if category.is_employee() && has_spouse && persons[1].age < 65 && self.rng.per_mille(500) {
            // Both work: the spouse is insured in their own right.
            let spouse = persons.remove(1);
            let own = if forced.is_some() {
                self.employee_category()
            } else {
                self.choose_category(spouse.age)
            };
            self.unit(own, pref, family, &[spouse], true);
        }
        self.unit(category, pref, family, &persons, events);
    }

    // ---- rows -------------------------------------------------------------------------

    /// Writes the qualifications of one card: head (本人) first, then family members.
    fn unit(
        &mut self,
        category: Category,
        pref: usize,
        family: usize,
        persons: &[Person],
        events: bool,
    ) {
        let ins = self.reg.pick(category, pref, &mut self.rng);
        let kind = self.reg.list[ins].kind;
        let head = persons[0];
        let today = self.today;
        let adult_from = if head.age >= 18 {
            days(head.birth.add_years(18).expect("date"))
        } else {
            days(head.birth)
        };

        let mut job_change = events && (22..=64).contains(&head.age) && self.rng.per_mille(30);
        let mut head_qualified = today;
        if job_change {
            let lo = (adult_from + 365).max(today - 1_100);
            let hi = today - 30;
            if lo <= hi {
                head_qualified = self.rng.between(lo, hi);
            } else {
                job_change = false;
            }
        }
        if !job_change {
            let years = if head.age < 18 {
                head.age
            } else if head.age >= 60 {
                head.age - 59
            } else if category.is_employee() {
                head.age.saturating_sub(18).min(42)
            } else {
                head.age.saturating_sub(18).min(30)
            };
            let lo = adult_from.max(today - 365 * i64::from(years));
            head_qualified = self.rng.between(lo, today);
        }
        let qualified = |p: &Person| head_qualified.max(days(p.birth));
        let latest = persons
            .iter()
            .map(qualified)
            .max()
            .unwrap_or(head_qualified);
        let lost = if events && !job_change && latest < today && self.rng.per_mille(20) {
            let reason = match category {
                Category::Municipal if self.rng.per_mille(500) => "02",
                _ => "99",
            };
            Some((
                self.rng.between((latest + 1).max(today - 1_000), today),
                reason,
            ))
        } else {
            None
        };
        let card_classification = match category {
            Category::Municipal => match self.rng.below(1000) {
                0..=9 => "03",
                10..=11 => "05",
                _ => "01",
            },
            _ => "01",
        };
        let high_income = self.rng.per_mille(100);

        let mut sym = std::mem::take(&mut self.sym);
        let mut num = std::mem::take(&mut self.num);
        let names = Rc::clone(&self.names);

        if job_change {
            // The previous employer's insurance, lost the day the current one began.
            let prev_cat = self.employee_category();
            let mut prev = self.reg.pick(prev_cat, pref, &mut self.rng);
            if prev == ins {
                prev = self.reg.other_kyokai(pref, ins);
            }
            let from = self.rng.between(
                adult_from.max(head_qualified - 15 * 365),
                head_qualified - 60,
            );
            self.reg.list[prev].next_card(&mut self.rng, &mut sym, &mut num);
            let row = base_row(
                &names,
                &sym,
                &num,
                Some(0),
                1,
                family,
                &head,
                None,
                from,
                "01",
            );
            let row = Row {
                lost: Some(date(head_qualified)),
                loss_reason: Some("03"),
                ..row
            };
            self.emit(
                prev,
                &row,
                &head,
                family,
                Tags {
                    job_old: true,
                    ..Tags::default()
                },
            );
        }

        self.reg.list[ins].next_card(&mut self.rng, &mut sym, &mut num);
        let head_given = names.given(&head).0;
        let head_family = names.family[family].0;
        for (i, p) in persons.iter().enumerate() {
            let q = qualified(p);
            let insured = (i > 0).then_some((head_family, head_given));
            let relationship = if i == 0 { 1 } else { 2 };
            let branch = Some(i as u8);
            let mut row = base_row(
                &names,
                &sym,
                &num,
                branch,
                relationship,
                family,
                p,
                insured,
                q,
                card_classification,
            );
            let mut tags = Tags {
                job_new: job_change && i == 0,
                ..Tags::default()
            };
            if let Some((d, reason)) = lost {
                row.lost = Some(date(d));
                row.loss_reason = Some(reason);
                tags.lost_only = true;
            } else {
                self.card_dates(&mut row, kind, q, card_classification);
                if (70..=74).contains(&p.age) {
                    self.elderly(&mut row, p, q, high_income);
                }
                self.certificates(&mut row, kind, p, q, high_income);
            }
            self.emit(ins, &row, p, family, tags);
        }
        self.sym = sym;
        self.num = num;
    }

    /// One person's 後期高齢者医療 qualification.
    fn late_person(&mut self, age: u32) {
        let pref = self.pref_weights.pick(&mut self.rng);
        let family = self.names.family_weights.pick(&mut self.rng);
        let sex = self.sex_for(age);
        let p = self.person(age, sex);
        let ins = self.reg.pick(Category::Late, pref, &mut self.rng);
        let today = self.today;
        let start = days(p.birth.add_years(75).expect("date"))
            .max(self.late_start)
            .min(today);
        // Some moved in from another prefecture later on.
        let q = if self.rng.per_mille(50) {
            self.rng.between(start, today)
        } else {
            start
        };
        let death = (q < today && self.rng.per_mille(40))
            .then(|| self.rng.between((q + 1).max(today - 700), today));
        let ratio = match self.rng.below(1000) {
            0..=849 => "010",
            850..=929 => "020",
            _ => "030",
        };
        let mut sym = std::mem::take(&mut self.sym);
        let mut num = std::mem::take(&mut self.num);
        let names = Rc::clone(&self.names);
        self.reg.list[ins].next_card(&mut self.rng, &mut sym, &mut num);
        let mut row = base_row(&names, "", &num, None, 1, family, &p, None, q, "01");
        row.copay = Some(ratio);
        let mut tags = Tags::default();
        if let Some(d) = death {
            row.lost = Some(date(d));
            row.loss_reason = Some("01");
            tags.death = true;
        } else {
            self.card_dates(&mut row, InsurerKind::LateElderly, q, "01");
            self.certificates(&mut row, InsurerKind::LateElderly, &p, q, ratio == "030");
        }
        self.emit(ins, &row, &p, family, tags);
        self.sym = sym;
        self.num = num;
    }

    /// Card issue and validity dates of a current qualification.
    fn card_dates(&mut self, row: &mut Row<'_>, kind: InsurerKind, q: i64, classification: &str) {
        let today = self.today;
        let (issued, from, until) = match kind {
            InsurerKind::MunicipalNhi if classification == "03" => {
                // 短期被保険者証: six months.
                let from = q.max(first_of_month(today - self.rng.between(0, 150)));
                (from, from, Some(from + 181))
            }
            InsurerKind::MunicipalNhi | InsurerKind::LateElderly => {
                let (start, end) = if kind == InsurerKind::LateElderly {
                    self.year_aug
                } else {
                    self.year_oct
                };
                let from = q.max(start);
                (q.max(from - self.rng.between(5, 20)), from, Some(end))
            }
            _ => ((q + self.rng.between(3, 20)).min(today).max(q), q, None),
        };
        row.card_issued = date(issued);
        row.card_from = date(from);
        row.card_until = until.map(date);
    }

    /// 高齢受給者証 for people aged 70–74 outside 後期高齢; 現役並み pay 3割.
    fn elderly(&mut self, row: &mut Row<'_>, p: &Person, q: i64, high_income: bool) {
        let starts = days(copay::elderly_from(p.birth).expect("date"));
        let from = starts.max(q).max(self.year_aug.0);
        let before_75 = days(p.birth.add_years(75).expect("date")) - 1;
        let until = next_july_end(from).min(before_75);
        let issued = q.max(from - self.rng.between(7, 25));
        let ratio = if high_income { "030" } else { "020" };
        if high_income {
            row.copay = Some("030");
        }
        row.elderly = Some(Elderly {
            issued: date(issued),
            from: date(from),
            until: date(until),
            ratio,
        });
    }

    /// 限度額適用認定証 (~2 %) and 特定疾病療養受療証 (~0.1 %).
    fn certificates(
        &mut self,
        row: &mut Row<'_>,
        kind: InsurerKind,
        p: &Person,
        q: i64,
        high_income: bool,
    ) {
        let today = self.today;
        let late = kind == InsurerKind::LateElderly;
        // Ages 69–71 are left out: their bracket (A under 70, B from 70) could change
        // within the certificate year.
        if self.rng.per_mille(20) && (late || !(69..=71).contains(&p.age)) {
            let from = q
                .max(first_of_month(today - self.rng.between(0, 300)))
                .max(self.year_aug.0);
            let until = self.year_aug.1;
            let (classification, bracket) = if p.age >= 70 {
                if high_income {
                    ("01", *self.rng.pick(&["B01", "B02", "B03", "B03"]))
                } else if self.rng.per_mille(950) {
                    ("02", *self.rng.pick(&["B05", "B06"]))
                } else {
                    ("03", "B05")
                }
            } else {
                match self.rng.below(100) {
                    0..=9 => ("01", "A01"),
                    10..=24 => ("01", "A02"),
                    25..=69 => ("01", "A03"),
                    70..=84 => ("01", "A04"),
                    85..=97 => (if self.rng.per_mille(50) { "03" } else { "02" }, "A05"),
                    _ => ("02", "A06"),
                }
            };
            row.limit = Some(Limit {
                classification,
                bracket,
                issued: date(from),
                from: date(from),
                until: date(until),
            });
        }
        if p.age >= 20 && self.rng.below(10_000) < 10 {
            let dialysis = self.rng.per_mille(900);
            let from = q.max(first_of_month(today - self.rng.between(30, 3_000)));
            let self_pay = if dialysis && p.age < 70 && self.rng.per_mille(150) {
                20_000
            } else {
                10_000
            };
            row.specific = Some(Specific {
                disease: if dialysis { "1" } else { "2" },
                issued: date(from),
                from: date(from),
                until: late.then(|| date(self.year_aug.1)),
                self_pay,
            });
        }
    }

    fn emit(&mut self, ins: usize, row: &Row<'_>, p: &Person, family: usize, tags: Tags) {
        let insurer = &mut self.reg.list[ins];
        let before = insurer.buf.len();
        csv::write_row(
            &mut insurer.buf,
            insurer.number.as_str(),
            &insurer.name,
            row,
        );
        insurer.rows += 1;
        self.buffered += insurer.buf.len() - before;
        self.used[ins] = true;
        if insurer.rows == self.limits.rows {
            self.full.push(ins);
        }
        let kind = insurer.kind;
        if let Some(s) = self.sample_slot(kind, row, p, tags) {
            let valid = row.qualified <= self.as_of && row.lost.is_none_or(|d| self.as_of < d);
            let insurer = &self.reg.list[ins];
            self.slots[s] = Some(SamplePerson {
                insurer_number: insurer.number.as_str().to_string(),
                symbol: (!row.symbol.is_empty()).then(|| row.symbol.to_string()),
                number: row.number.to_string(),
                branch: row.branch.map(|b| format!("{b:02}")),
                birthdate: row.birth.compact(),
                name: format!("{}\u{3000}{}", self.names.family[family].0, row.given.0),
                validity_on_as_of: if valid {
                    Validity::Valid
                } else {
                    Validity::Invalid
                },
            });
        }
    }

    /// The first empty sample slot this row fits, most specific first.
    fn sample_slot(
        &self,
        kind: InsurerKind,
        row: &Row<'_>,
        p: &Person,
        tags: Tags,
    ) -> Option<usize> {
        let free = |s: usize| self.slots[s].is_none();
        let only = |s: usize| free(s).then_some(s);
        if tags.job_old {
            return only(slot::JOB_OLD);
        }
        if tags.job_new {
            return only(slot::JOB_NEW);
        }
        if tags.death {
            return only(slot::DEATH);
        }
        if tags.lost_only {
            return only(slot::LOST);
        }
        let special = [
            (row.elderly.is_some(), slot::ELDERLY),
            (row.specific.is_some(), slot::SPECIFIC),
            (row.limit.is_some(), slot::LIMIT),
            (copay::is_preschool(p.birth, self.as_of), slot::PRESCHOOL),
        ];
        if let Some(&(_, s)) = special.iter().find(|(hit, s)| *hit && free(*s)) {
            return Some(s);
        }
        let insured = row.relationship == 1;
        let general = match kind {
            InsurerKind::Kyokai if insured => slot::KYOKAI,
            InsurerKind::Kyokai if p.age < 18 => slot::KYOKAI_CHILD,
            InsurerKind::HealthInsuranceSociety if insured => slot::SOCIETY,
            InsurerKind::HealthInsuranceSociety if p.age >= 18 => slot::SOCIETY_ADULT_DEPENDENT,
            InsurerKind::NationalPublicServants => slot::NATIONAL,
            InsurerKind::LocalPublicServants => slot::LOCAL,
            InsurerKind::Police | InsurerKind::PrivateSchools => slot::POLICE_SCHOOL,
            InsurerKind::Seamen => slot::SEAMEN,
            InsurerKind::MunicipalNhi if !row.symbol.is_ascii() && free(slot::MUNICIPAL_WIDE) => {
                slot::MUNICIPAL_WIDE
            }
            InsurerKind::MunicipalNhi if insured => slot::MUNICIPAL,
            InsurerKind::NhiSociety => slot::NHI_SOCIETY,
            InsurerKind::LateElderly if row.copay == Some("010") => slot::LATE_10,
            InsurerKind::LateElderly if row.copay == Some("030") => slot::LATE_30,
            _ => return None,
        };
        only(general)
    }
}

#[allow(clippy::too_many_arguments)]
fn base_row<'a>(
    names: &'a Names,
    sym: &'a str,
    num: &'a str,
    branch: Option<u8>,
    relationship: u8,
    family: usize,
    p: &Person,
    insured: Option<(&'a str, &'a str)>,
    qualified: i64,
    card_classification: &'static str,
) -> Row<'a> {
    let (fk, fr) = &names.family[family];
    let q = date(qualified);
    Row {
        symbol: sym,
        number: num,
        branch,
        relationship,
        family: (fk, fr),
        given: names.given(p),
        sex: p.sex,
        birth: p.birth,
        qualified: q,
        lost: None,
        loss_reason: None,
        card_classification,
        copay: None,
        insured,
        card_issued: q,
        card_from: q,
        card_until: None,
        elderly: None,
        limit: None,
        specific: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyramid_scaling_is_exact() {
        for n in [0, 1, 7, 1_000, 123_457] {
            assert_eq!(age_counts(n).iter().sum::<u64>(), n);
        }
        let c = age_counts(1_000_000);
        let old: u64 = c[75..].iter().sum();
        assert!((140_000..175_000).contains(&old), "{old}");
    }

    #[test]
    fn periods() {
        let d = Date::parse("20260520").unwrap();
        let (s, e) = period(d, 8);
        assert_eq!(
            (date(s).compact(), date(e).compact()),
            ("20250801".into(), "20260731".into())
        );
        let (s, e) = period(d, 5);
        assert_eq!(
            (date(s).compact(), date(e).compact()),
            ("20260501".into(), "20270430".into())
        );
        assert_eq!(
            date(next_july_end(days(Date::parse("20260801").unwrap()))).compact(),
            "20270731"
        );
    }

    #[test]
    fn names_convert_to_kana() {
        let n = Names::new();
        assert!(n.family.len() > 250, "{}", n.family.len());
        assert_eq!(n.family[0], ("佐藤", "ｻﾄｳ".to_string()));
    }
}

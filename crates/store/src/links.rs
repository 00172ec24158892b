//! How a roster's link decisions change the person links and the review queue. Pure: both
//! backends read the current state, ask [`plan`] what to write, and write it in the import's
//! transaction.

use crate::LinkDecision;
use std::collections::HashMap;

/// An open review as the planner needs it.
#[derive(Debug, Clone)]
pub(crate) struct OpenReview {
    pub id: i64,
    pub attributes: String,
    pub number_last4: String,
}

/// What to write.
#[derive(Debug, Default)]
pub(crate) struct LinkPlan {
    /// `(qualification_id, pseudonym)` to insert or replace.
    pub upserts: Vec<(i64, String)>,
    /// Links to remove.
    pub deletes: Vec<i64>,
    /// Append-only history: `(qualification_id, action, pseudonym)`, action `linked`/`unlinked`.
    pub events: Vec<(i64, &'static str, String)>,
    /// Open reviews a later row settled.
    pub close_reviews: Vec<i64>,
    /// `(qualification_id, attributes, number_last4)` to open.
    pub new_reviews: Vec<(i64, String, String)>,
    pub linked: u64,
    pub reviews: u64,
}

/// Attribute codes as stored: comma-separated, in the enum's order.
pub(crate) fn attribute_codes(attributes: &[kakunin_domain::Attribute]) -> String {
    let mut a = attributes.to_vec();
    a.sort();
    a.dedup();
    a.iter().map(|a| a.code()).collect::<Vec<_>>().join(",")
}

pub(crate) fn parse_attribute_codes(s: &str) -> Vec<kakunin_domain::Attribute> {
    s.split(',')
        .filter_map(kakunin_domain::Attribute::parse)
        .collect()
}

/// Plans the writes for `decisions` given the current links and open reviews of those
/// qualifications.
pub(crate) fn plan(
    current: &HashMap<i64, String>,
    open: &HashMap<i64, Vec<OpenReview>>,
    decisions: &[(i64, &LinkDecision)],
) -> LinkPlan {
    let mut p = LinkPlan::default();
    let none = Vec::new();
    for &(qid, decision) in decisions {
        let reviews = open.get(&qid).unwrap_or(&none);
        match decision {
            LinkDecision::Linked { pseudonym } => {
                p.linked += 1;
                if current.get(&qid) != Some(pseudonym) {
                    if let Some(old) = current.get(&qid) {
                        p.events.push((qid, "unlinked", old.clone()));
                    }
                    p.upserts.push((qid, pseudonym.clone()));
                    p.events.push((qid, "linked", pseudonym.clone()));
                }
                p.close_reviews.extend(reviews.iter().map(|r| r.id));
            }
            LinkDecision::Mismatch {
                attributes,
                number_last4,
            } => {
                p.reviews += 1;
                if let Some(old) = current.get(&qid) {
                    p.deletes.push(qid);
                    p.events.push((qid, "unlinked", old.clone()));
                }
                let codes = attribute_codes(attributes);
                let same_open = reviews
                    .iter()
                    .any(|r| r.attributes == codes && &r.number_last4 == number_last4);
                if !same_open {
                    p.close_reviews.extend(reviews.iter().map(|r| r.id));
                    p.new_reviews.push((qid, codes, number_last4.clone()));
                }
            }
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use kakunin_domain::Attribute;

    fn linked(p: &str) -> LinkDecision {
        LinkDecision::Linked {
            pseudonym: p.into(),
        }
    }
    fn mismatch(a: &[Attribute], last4: &str) -> LinkDecision {
        LinkDecision::Mismatch {
            attributes: a.to_vec(),
            number_last4: last4.into(),
        }
    }

    #[test]
    fn link_new_relink_and_unlink() {
        let current: HashMap<i64, String> = [(2, "p2".to_string()), (3, "p3".to_string())].into();
        let open: HashMap<i64, Vec<OpenReview>> = [(
            4,
            vec![OpenReview {
                id: 40,
                attributes: "name".into(),
                number_last4: "1234".into(),
            }],
        )]
        .into();
        let (a, b, c, d, e) = (
            linked("p1"),
            linked("p2"),
            mismatch(&[Attribute::Birthdate], "9999"),
            linked("p4"),
            mismatch(&[Attribute::Name], "1234"),
        );
        let plan = plan(&current, &open, &[(1, &a), (2, &b), (3, &c), (4, &d)]);
        assert_eq!(plan.upserts, vec![(1, "p1".into()), (4, "p4".into())]);
        assert_eq!(plan.deletes, vec![3]);
        assert_eq!(plan.close_reviews, vec![40]);
        assert_eq!(
            plan.new_reviews,
            vec![(3, "birthdate".into(), "9999".into())]
        );
        assert_eq!((plan.linked, plan.reviews), (3, 1));
        assert_eq!(
            plan.events,
            vec![
                (1, "linked", "p1".into()),
                (3, "unlinked", "p3".into()),
                (4, "linked", "p4".into())
            ]
        );
        // The same mismatch again does not open a second review.
        let again = super::plan(&current, &open, &[(4, &e)]);
        assert!(again.new_reviews.is_empty() && again.close_reviews.is_empty());
    }
}

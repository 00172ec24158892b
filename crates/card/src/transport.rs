//! The transport seam: anything that exchanges one C-APDU for one R-APDU.

use thiserror::Error;

/// A card in a reader (or an emulation of one): one C-APDU in, one R-APDU (`data ‖ SW1 SW2`) out.
///
/// Implemented by [`crate::VirtualCard`], `PcscCard` (feature `pcsc`), `Box<C>` and `&mut C`;
/// the [`crate::Jpki`] client works over any of them.
pub trait Card: Send {
    /// Sends one short C-APDU and returns the R-APDU, status word included.
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError>;
}

impl<C: Card + ?Sized> Card for Box<C> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        (**self).transmit(apdu)
    }
}

impl<C: Card + ?Sized> Card for &mut C {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        (**self).transmit(apdu)
    }
}

/// Why an APDU exchange (or opening a card) failed, below the level of status words.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CardError {
    /// The card left the reader (or was reset by someone else) during the session: its
    /// security state is gone and the session must start again.
    #[error("the card was removed")]
    Removed,
    /// No reader, or no PC/SC service.
    #[error("no card reader available")]
    NoReader,
    /// A reader, but no card in it.
    #[error("no card in the reader")]
    NoCard,
    /// The reader or the link to it failed.
    #[error("card transport error: {0}")]
    Transport(String),
    /// The peer broke the protocol (bad framing, an R-APDU shorter than a status word, ...).
    #[error("card protocol error: {0}")]
    Protocol(String),
    /// This build or platform cannot reach the requested kind of card.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A card specification string that `open_card` does not understand.
    #[error(
        "invalid card specification {0:?}: expected \"virtual:FILE\", \"pcsc\" or \"pcsc:READER\""
    )]
    InvalidSpec(String),
    /// A virtual card file could not be opened.
    #[error("virtual card: {0}")]
    VirtualCard(String),
}

impl CardError {
    /// The message shown to a patient or receptionist.
    pub fn message_ja(&self) -> String {
        match self {
            CardError::Removed => {
                "カードが取り出されました。もう一度カードを置いてください。".to_owned()
            }
            CardError::NoReader => {
                "カードリーダーが見つかりません。カードリーダーの接続を確認してください。"
                    .to_owned()
            }
            CardError::NoCard => {
                "カードが置かれていません。マイナンバーカードをカードリーダーに置いてください。"
                    .to_owned()
            }
            CardError::Transport(_) | CardError::Protocol(_) => {
                "カードとの通信に失敗しました。もう一度カードを置いてください。".to_owned()
            }
            CardError::Unsupported(_) | CardError::InvalidSpec(_) | CardError::VirtualCard(_) => {
                "カードリーダーの設定に誤りがあります。システム管理者に連絡してください。"
                    .to_owned()
            }
        }
    }
}
